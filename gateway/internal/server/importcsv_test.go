package server

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"fmt"
	"testing"

	"google.golang.org/grpc"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
)

// collectingStream is the sending half of an ImportLeads stream that
// keeps what it is sent.
type collectingStream struct {
	grpc.ClientStream
	rows []*leadv1.ImportRow
}

func (s *collectingStream) Send(m *leadv1.ImportLeadsRequest) error {
	s.rows = append(s.rows, m.GetRows().GetRows()...)
	return nil
}
func (s *collectingStream) CloseSend() error { return nil }
func (s *collectingStream) Recv() (*leadv1.ImportLeadsResponse, error) {
	panic("not used")
}

func TestRowsCrossingReadBuffersStayWhole(t *testing.T) {
	var buf bytes.Buffer
	fmt.Fprintln(&buf, "first_name,last_name,company,email,phone")
	const n = 30000
	for i := range n {
		fmt.Fprintf(&buf, "Imp,c%d,Import Co %d,c%d@import.example,+1 917 %07d\n", i, i%5000, i, i)
	}
	cr := csv.NewReader(bufio.NewReaderSize(&buf, 64<<10))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		t.Fatal(err)
	}
	plan, st := planColumns(header, false, false)
	if st != nil {
		t.Fatal(st)
	}
	stream := &collectingStream{}
	c := &csvImporter{cfg: CSVImportConfig{MaxRowBytes: 1 << 20, RowsPerMessage: 1000}}
	if err := c.sendRows(stream, cr, plan, &leadv1.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(stream.rows) != n {
		t.Fatalf("%d rows sent, want %d", len(stream.rows), n)
	}
	for i, r := range stream.rows {
		if r.Unreadable != "" || r.Lead.GetLastName() != fmt.Sprintf("c%d", i) || r.Line != int64(i+2) {
			t.Fatalf("row %d = %v", i, r)
		}
	}
}
