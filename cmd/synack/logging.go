package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"

	"github.com/synack-net/synack/trace"
	"github.com/synack-net/synack/wire"
)

// newLogger makes serve's logger: text (key=value) or JSON lines, per
// --log-format.
func newLogger(format string, w io.Writer) (*slog.Logger, error) {
	switch format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// eventSink logs each trace event with its fields as attributes, so that
// a JSON log can be filtered by connection, flag or state.
func eventSink(log *slog.Logger) trace.Sink {
	return trace.SinkFunc(func(e *trace.Event) {
		attrs := make([]slog.Attr, 0, 12)
		attrs = append(attrs, slog.String("kind", e.Kind.String()))
		if e.Host != "" {
			attrs = append(attrs, slog.String("host", e.Host))
		}
		attrs = append(attrs, slog.String("local", addrString(e.Local)), slog.String("remote", addrString(e.Remote)))
		switch {
		case e.Kind.IsSegment():
			attrs = append(attrs, slog.String("flags", e.Flags.String()), slog.Uint64("seq", uint64(e.Seq)),
				slog.Uint64("ack", uint64(e.Ack)), slog.Int("win", int(e.Window)), slog.Int("len", e.Len))
			if o := optionAttrs(&e.Options); len(o) > 0 {
				attrs = append(attrs, slog.Attr{Key: "opts", Value: slog.GroupValue(o...)})
			}
		case e.Kind == trace.KindStateChange:
			attrs = append(attrs, slog.String("from", e.From))
		}
		if e.State != "" {
			attrs = append(attrs, slog.String("state", e.State))
		}
		if e.Cause != "" {
			attrs = append(attrs, slog.String("cause", e.Cause))
		}
		log.LogAttrs(context.Background(), slog.LevelInfo, "tcp", attrs...)
	})
}

// optionAttrs are the options a segment carried, one attribute each (the
// SACK blocks as "left-right" pairs), none when it carried none.
func optionAttrs(o *wire.TCPOptions) []slog.Attr {
	var a []slog.Attr
	if o.HasMSS {
		a = append(a, slog.Int("mss", int(o.MSS)))
	}
	if o.HasWindowScale {
		a = append(a, slog.Int("wscale", int(o.WindowScale)))
	}
	if o.SACKPermitted {
		a = append(a, slog.Bool("sack_perm", true))
	}
	if o.HasTimestamps {
		a = append(a, slog.Uint64("tsval", uint64(o.TSVal)), slog.Uint64("tsecr", uint64(o.TSEcr)))
	}
	if o.NumSACKBlocks > 0 {
		blocks := make([]string, o.NumSACKBlocks)
		for i, b := range o.SACKBlocks[:o.NumSACKBlocks] {
			blocks[i] = fmt.Sprintf("%d-%d", uint32(b.Left), uint32(b.Right))
		}
		a = append(a, slog.Any("sack", blocks))
	}
	return a
}

// addrString is a as "ip:port", or "*" when not valid (a listener's remote).
func addrString(a netip.AddrPort) string {
	if !a.IsValid() {
		return "*"
	}
	return a.String()
}
