package stack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/synack-net/synack/tcp"
	"github.com/synack-net/synack/udp"
)

// Counters are counters as plain values, in sections named as Linux's
// /proc/net/snmp and /proc/net/netstat name theirs (Ip, Icmp, Tcp, Udp,
// IpExt, TcpExt), each counter under its MIB or Linux name, so that a
// snapshot reads as `nstat` or `netstat -s` would print it: Tcp holds
// TCP-MIB's objects (ActiveOpens, CurrEstab, InErrs, ...), TcpExt Linux's
// extensions under Linux's names (ListenOverflows, TCPTimeouts, ...) and
// synack's own drops under their field names (DropOutOfWindow, ...).
//
// They are read field by field from the atomics of Stats, tcp.Stats and
// udp.Stats by reflection: a counter added to one of those structs shows
// up here, and in everything made from here (JSON, expvar, Prometheus,
// netstat -s), with no list to update. It goes to its section by the rules
// of sectionOf and keeps its field name unless linuxNames renames it.
//
// Counters marshal to a JSON object of objects, sections and counters in
// order: {"Ip":{"InReceives":3,...},"Icmp":{...},...}.
type Counters []Section

// Section is one section of counters, such as Tcp.
type Section struct {
	Name     string
	Counters []Counter
}

// Counter is one counter's value.
type Counter struct {
	// Name is the MIB or Linux name within its section ("ActiveOpens").
	Name string
	// Value is the count; a gauge below zero (which only a bug makes) reads 0.
	Value uint64
	// Gauge says Value goes up and down (CurrEstab) rather than only up.
	Gauge bool
	// Field is the struct field it is read from, such as
	// "tcp.Stats.Timeouts" (for documentation); empty after JSON.
	Field string
	// Label, for one entry of a counter kept per queue (or per anything
	// numbered, StructCounters), says what the entries are numbered by
	// ("queue"), and Index is this entry's number; Name is then the
	// field's name with the index, "QueueDelivered[1]", as nstat-style
	// text and the JSON show it, and Prometheus gets one metric with a
	// label, synack_LinkTun_QueueDelivered{queue="1"}. Label is empty for
	// a plain counter, and after JSON.
	Label string
	Index int
}

// BaseName is c's name without its index: the field's name for an entry
// of a counter kept per queue ("QueueDelivered"), Name for any other.
func (c Counter) BaseName() string {
	if c.Label == "" {
		return c.Name
	}
	base, _, _ := strings.Cut(c.Name, "[")
	return base
}

// Get returns the counter name of the section, and whether there is one.
func (cs Counters) Get(section, name string) (uint64, bool) {
	for _, s := range cs {
		if s.Name != section {
			continue
		}
		for _, c := range s.Counters {
			if c.Name == name {
				return c.Value, true
			}
		}
	}
	return 0, false
}

// Section returns the section named name, or nil.
func (cs Counters) Section(name string) *Section {
	for i := range cs {
		if cs[i].Name == name {
			return &cs[i]
		}
	}
	return nil
}

// add appends c to the section named name, making it at the end if new.
func (cs *Counters) add(name string, c Counter) {
	s := cs.Section(name)
	if s == nil {
		*cs = append(*cs, Section{Name: name})
		s = &(*cs)[len(*cs)-1]
	}
	s.Counters = append(s.Counters, c)
}

// MarshalJSON writes the sections as one object, in order.
func (cs Counters) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, s := range cs {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:{", s.Name)
		for j, c := range s.Counters {
			if j > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%q:%d", c.Name, c.Value)
		}
		b.WriteByte('}')
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads what MarshalJSON writes, keeping the order.
func (cs *Counters) UnmarshalJSON(data []byte) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := expectDelim(d, '{'); err != nil {
		return err
	}
	*cs = (*cs)[:0]
	for d.More() {
		name, err := d.Token()
		if err != nil {
			return err
		}
		s := Section{Name: name.(string)}
		if err := expectDelim(d, '{'); err != nil {
			return err
		}
		for d.More() {
			k, err := d.Token()
			if err != nil {
				return err
			}
			v, err := d.Token()
			if err != nil {
				return err
			}
			n, ok := v.(json.Number)
			if !ok {
				return fmt.Errorf("counter %s.%s: %v is not a number", s.Name, k, v)
			}
			var c Counter
			if _, err := fmt.Sscan(n.String(), &c.Value); err != nil {
				return fmt.Errorf("counter %s.%s: %v", s.Name, k, err)
			}
			c.Name = k.(string)
			s.Counters = append(s.Counters, c)
		}
		if _, err := d.Token(); err != nil { // '}'
			return err
		}
		*cs = append(*cs, s)
	}
	_, err := d.Token()
	return err
}

func expectDelim(d *json.Decoder, want json.Delim) error {
	t, err := d.Token()
	if err != nil {
		return err
	}
	if t != want {
		return fmt.Errorf("counters: want %v, got %v", want, t)
	}
	return nil
}

// SectionOrder is the order of the sections in Counters, as netstat -s
// prints them; a section a link adds (StructCounters) comes after.
var SectionOrder = []string{"Ip", "Icmp", "Tcp", "Udp", "IpExt", "TcpExt"}

// tcpMIB are the tcp.Stats fields that are TCP-MIB objects (RFC 4022),
// Linux's Tcp: line; the rest go to TcpExt.
var tcpMIB = map[string]bool{"ActiveOpens": true, "PassiveOpens": true, "AttemptFails": true, "EstabResets": true,
	"CurrEstab": true, "InSegs": true, "OutSegs": true, "RetransSegs": true, "OutRsts": true}

// linuxNames renames fields whose Linux counterpart has another name
// (as /proc/net/netstat spells it), keyed by "package.Field".
var linuxNames = map[string]string{
	"stack.ICMPRateLimited":  "OutRateLimitGlobal",
	"stack.TCPInErrs":        "InErrs",
	"tcp.Timeouts":           "TCPTimeouts",
	"tcp.FastRetransmits":    "TCPFastRetrans",
	"tcp.OutOfOrderQueued":   "TCPOFOQueue",
	"tcp.DSACKsReceived":     "TCPDSACKRecv",
	"tcp.DSACKsSent":         "TCPDSACKOldSent",
	"tcp.DropPAWS":           "PAWSEstab",
	"tcp.AbortOnData":        "TCPAbortOnData",
	"tcp.AbortOnClose":       "TCPAbortOnClose",
	"tcp.AbortOnTimeout":     "TCPAbortOnTimeout",
	"tcp.WinProbes":          "TCPWinProbe",
	"tcp.RcvMemoryLimited":   "TCPMemoryPressures",
	"tcp.OFODrop":            "TCPOFODrop",
	"tcp.RcvQDrop":           "TCPRcvQDrop",
	"tcp.OutOfWindowACKs":    "TCPOutOfWindowACKs",
	"tcp.ReceiveBufferGrown": "TCPRcvBufGrown",
}

// sectionOf places the field name of the struct from package pkg
// ("stack", "tcp", "udp") and names it there.
func sectionOf(pkg, name string) (section, counter string) {
	counter = name
	if n, ok := linuxNames[pkg+"."+name]; ok {
		counter = n
	}
	switch pkg {
	case "udp":
		return "Udp", counter
	case "tcp":
		if tcpMIB[name] {
			return "Tcp", counter
		}
		return "TcpExt", counter
	}
	switch {
	case name == "TCPInErrs":
		return "Tcp", counter
	case strings.HasPrefix(name, "ICMP"):
		if counter == name {
			counter = strings.TrimPrefix(name, "ICMP")
		}
		return "Icmp", counter
	case strings.HasPrefix(name, "TCP"), name == "ConnLimitDrops":
		return "TcpExt", counter
	case strings.HasPrefix(name, "GSO"), strings.Contains(name, "Shared"): // offloads and shared text (share.go)
		return "IpExt", counter
	}
	return "Ip", counter
}

// counterField is one atomic field of a counters struct.
type counterField struct {
	index         int
	section, name string
	field         string
	gauge         bool
}

// fieldCache holds each counters struct type's fields, found once.
var fieldCache sync.Map // reflect.Type -> []counterField

var (
	uint64Type = reflect.TypeFor[atomic.Uint64]()
	int64Type  = reflect.TypeFor[atomic.Int64]()
)

// atomicFields returns the exported atomic.Uint64 and atomic.Int64 fields
// of the struct type t, from package pkg.
func atomicFields(t reflect.Type, pkg string) []counterField {
	if f, ok := fieldCache.Load(t); ok {
		return f.([]counterField)
	}
	var fs []counterField
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || (f.Type != uint64Type && f.Type != int64Type) {
			continue
		}
		sec, name := sectionOf(pkg, f.Name)
		fs = append(fs, counterField{index: i, section: sec, name: name, field: pkg + "." + t.Name() + "." + f.Name,
			gauge: f.Type == int64Type})
	}
	fieldCache.Store(t, fs)
	return fs
}

// readCounters adds the counters of *p, a Stats, tcp.Stats or udp.Stats.
func (cs *Counters) readCounters(p any, pkg string) {
	v := reflect.ValueOf(p).Elem()
	for _, f := range atomicFields(v.Type(), pkg) {
		c := Counter{Name: f.name, Field: f.field, Gauge: f.gauge}
		switch a := v.Field(f.index).Addr().Interface().(type) {
		case *atomic.Uint64:
			c.Value = a.Load()
		case *atomic.Int64:
			c.Value = uint64(max(a.Load(), 0))
		}
		cs.add(f.section, c)
	}
}

// ReadCounters reads the counters of ip, tc and uc into sections. Nil
// pointers are skipped.
func ReadCounters(ip *Stats, tc *tcp.Stats, uc *udp.Stats) Counters {
	cs := make(Counters, 0, len(SectionOrder))
	for _, n := range SectionOrder {
		cs = append(cs, Section{Name: n})
	}
	if ip != nil {
		cs.readCounters(ip, "stack")
	}
	if tc != nil {
		cs.readCounters(tc, "tcp")
	}
	if uc != nil {
		cs.readCounters(uc, "udp")
	}
	return cs
}

// StructCounters reads a link's counters from v, a struct (or pointer to
// one) such as tun.Stats or pipe.Stats, into a section named section:
//   - each exported uint64 field is a counter under its field name; one
//     whose name holds "Longest" (a largest size seen) is a gauge;
//   - each exported []uint64 or [N]uint64 field is a counter kept per
//     queue (or per anything numbered): entry i is a counter named
//     "Field[i]" with Index i and Label the field's `label` tag ("queue"),
//     or "index" without one. Every entry is read, so a struct whose
//     number of live entries varies (a device's queues) holds a slice of
//     that length: tun.Stats's QueueDelivered has Queues() entries.
//
// Other fields are left out. It allocates; it is for scrapes.
func StructCounters(section string, v any) Section {
	rv := reflect.Indirect(reflect.ValueOf(v))
	rt := rv.Type()
	s := Section{Name: section}
	for i := range rv.NumField() {
		f := rt.Field(i)
		if !f.IsExported() {
			continue
		}
		field := rt.String() + "." + f.Name
		switch k := f.Type.Kind(); {
		case k == reflect.Uint64:
			s.Counters = append(s.Counters, Counter{Name: f.Name, Value: rv.Field(i).Uint(),
				Field: field, Gauge: strings.Contains(f.Name, "Longest")})
		case (k == reflect.Slice || k == reflect.Array) && f.Type.Elem().Kind() == reflect.Uint64:
			label := f.Tag.Get("label")
			if label == "" {
				label = "index"
			}
			fv := rv.Field(i)
			for j := range fv.Len() {
				s.Counters = append(s.Counters, Counter{Name: f.Name + "[" + strconv.Itoa(j) + "]", Value: fv.Index(j).Uint(),
					Field: field, Gauge: strings.Contains(f.Name, "Longest"), Label: label, Index: j})
			}
		}
	}
	return s
}
