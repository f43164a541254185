package cli

import (
	"encoding/json"
	"io"

	"github.com/wharfmq/wharf/tools/bench"
)

// benchSummary is a bench run's summary as --json prints it.
type benchSummary struct {
	Op           string  `json:"op"`
	Params       string  `json:"params"`
	Msgs         int64   `json:"msgs"`
	Errors       int64   `json:"errors"`
	Bytes        int64   `json:"bytes"`
	Requests     int64   `json:"requests"`
	WallSeconds  float64 `json:"wallSeconds"`
	MsgsPerSec   float64 `json:"msgsPerSec"`
	MBPerSec     float64 `json:"mbPerSec"`
	P50Micros    int64   `json:"p50Micros"`
	P99Micros    int64   `json:"p99Micros"`
	P999Micros   int64   `json:"p999Micros"`
	MaxMicros    int64   `json:"maxMicros"`
	CPUSeconds   float64 `json:"clientCpuSeconds"`
	BrokerCPU    float64 `json:"brokerCpuSeconds"` // -1 when unknown
	BrokerPID    int     `json:"brokerPid,omitempty"`
	MachineBusy  float64 `json:"machineBusySeconds"` // -1 when unknown
	Bound        string  `json:"bound,omitempty"`
	FirstError   string  `json:"firstError,omitempty"`
	SummaryLine  string  `json:"summary"`
	AbortedError string  `json:"error,omitempty"`
}

// writeBenchJSON prints res (and the run's error, if any) as one JSON
// object.
func writeBenchJSON(w io.Writer, res bench.Result, runErr error) error {
	s := benchSummary{Op: res.Op, Params: res.Params, Msgs: res.Msgs, Errors: res.Errors, Bytes: res.Bytes, Requests: res.Requests,
		WallSeconds: res.Wall.Seconds(), MsgsPerSec: res.MsgsPerSec(), MBPerSec: res.MBPerSec(),
		P50Micros: res.P50.Microseconds(), P99Micros: res.P99.Microseconds(), P999Micros: res.P999.Microseconds(), MaxMicros: res.Max.Microseconds(),
		CPUSeconds: res.CPU.Seconds(), BrokerCPU: -1, BrokerPID: res.BrokerPID, MachineBusy: -1, Bound: res.Bound, FirstError: res.FirstError,
		SummaryLine: res.Line()}
	if res.BrokerCPU >= 0 {
		s.BrokerCPU = res.BrokerCPU.Seconds()
	}
	if res.MachineBusy >= 0 {
		s.MachineBusy = res.MachineBusy.Seconds()
	}
	if runErr != nil {
		s.AbortedError = runErr.Error()
	}
	return json.NewEncoder(w).Encode(s)
}
