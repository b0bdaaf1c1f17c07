package stack

import "github.com/synack-net/synack/trace"

type traceEv = trace.Event

const traceSent = trace.KindSegmentSent
