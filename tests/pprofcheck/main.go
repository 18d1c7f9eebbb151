// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)

// pprofcheck is the independent reader of the end-to-end tests: it parses a
// profile with google/pprof's own profile package (gzip or not), runs its
// validity check, and prints what it understood as JSON.
//
// Usage: pprofcheck FILE
//
// On any error it prints "pprofcheck: <error>" to stderr and exits 1.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/google/pprof/profile"
)

type valueType struct {
	Type string `json:"type"`
	Unit string `json:"unit"`
}

type frame struct {
	Function   string `json:"function"`
	SystemName string `json:"system_name"`
	Filename   string `json:"filename"`
	StartLine  int64  `json:"start_line"`
	Line       int64  `json:"line"`
	// Native locations (--native): the address and the object it lies in.
	Address uint64 `json:"address,omitempty"`
	Mapping string `json:"mapping,omitempty"`
	BuildID string `json:"build_id,omitempty"`
}

type sample struct {
	Values    []int64             `json:"values"`
	Labels    map[string][]string `json:"labels"`
	NumLabels map[string][]int64  `json:"num_labels"`
	Frames    []frame             `json:"frames"`
}

type report struct {
	SampleTypes   []valueType `json:"sample_types"`
	PeriodType    valueType   `json:"period_type"`
	Period        int64       `json:"period"`
	TimeNanos     int64       `json:"time_nanos"`
	DurationNanos int64       `json:"duration_nanos"`
	NumFunctions  int         `json:"num_functions"`
	NumLocations  int         `json:"num_locations"`
	Samples       []sample    `json:"samples"`
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "pprofcheck: %v\n", err)
	os.Exit(1)
}

func convert(p *profile.Profile) report {
	r := report{
		SampleTypes:   []valueType{},
		Period:        p.Period,
		TimeNanos:     p.TimeNanos,
		DurationNanos: p.DurationNanos,
		NumFunctions:  len(p.Function),
		NumLocations:  len(p.Location),
		Samples:       []sample{},
	}
	for _, st := range p.SampleType {
		r.SampleTypes = append(r.SampleTypes, valueType{st.Type, st.Unit})
	}
	if p.PeriodType != nil {
		r.PeriodType = valueType{p.PeriodType.Type, p.PeriodType.Unit}
	}
	for _, s := range p.Sample {
		out := sample{
			Values:    s.Value,
			Labels:    s.Label,
			NumLabels: s.NumLabel,
			Frames:    []frame{},
		}
		if out.Values == nil {
			out.Values = []int64{}
		}
		if out.Labels == nil {
			out.Labels = map[string][]string{}
		}
		if out.NumLabels == nil {
			out.NumLabels = map[string][]int64{}
		}
		// Locations come leaf first; so do the Lines inside one Location
		// (inlined callee before its caller).
		for _, loc := range s.Location {
			for _, ln := range loc.Line {
				f := frame{Line: ln.Line, Address: loc.Address}
				if m := loc.Mapping; m != nil {
					f.Mapping = m.File
					f.BuildID = m.BuildID
				}
				if fn := ln.Function; fn != nil {
					f.Function = fn.Name
					f.SystemName = fn.SystemName
					f.Filename = fn.Filename
					f.StartLine = fn.StartLine
				}
				out.Frames = append(out.Frames, f)
			}
		}
		r.Samples = append(r.Samples, out)
	}
	return r
}

func main() {
	if len(os.Args) != 2 {
		fail(fmt.Errorf("usage: pprofcheck FILE"))
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fail(err)
	}
	p, err := profile.Parse(f)
	f.Close()
	if err != nil {
		fail(err)
	}
	if err := p.CheckValid(); err != nil {
		fail(err)
	}
	// One line of JSON; names like "<module>" are written as they are.
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(convert(p)); err != nil {
		fail(err)
	}
}
