package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc/metadata"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
)

type importResult struct {
	name     string
	rows     int
	created  int64
	elapsed  time.Duration
	catchUp  time.Duration
	outboxed int64
}

// importBench imports rows leads over the gRPC stream and the same number
// as a CSV upload through the gateway, duplicate detection on (policy
// SKIP), on top of whatever the table holds, and times each import and
// then the relay's catch-up to NATS.
func importBench(ctx context.Context, o options, pool *pgxpool.Pool, client leadv1.LeadServiceClient, httpAddr string, rep *report) error {
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", authorization)
	row := func(prefix string, i int) (first, last, company, email, phone string) {
		area := map[string]string{"g": "646", "c": "917"}[prefix]
		return "Imp", fmt.Sprintf("%s%d", prefix, i), fmt.Sprintf("Import Co %d", i%5000),
			fmt.Sprintf("%s%d@import.example", prefix, i), fmt.Sprintf("+1 %s %07d", area, i%10_000_000)
	}

	step(fmt.Sprintf("import: %d rows over the gRPC stream", o.importRows))
	start := time.Now()
	stream, err := client.ImportLeads(ctx)
	if err != nil {
		return err
	}
	if err := stream.Send(&leadv1.ImportLeadsRequest{Kind: &leadv1.ImportLeadsRequest_Options{Options: &leadv1.ImportOptions{
		RequestId: uuid.NewString(), DisplayName: "leadbench-grpc",
	}}}); err != nil {
		return err
	}
	sendErr := make(chan error, 1)
	go func() {
		defer stream.CloseSend() //nolint:errcheck
		var rows []*leadv1.ImportRow
		for i := range o.importRows {
			first, last, company, email, phone := row("g", i)
			rows = append(rows, &leadv1.ImportRow{Line: int64(i + 1), Lead: &leadv1.Lead{
				FirstName: first, LastName: last, Company: company, Email: email, Phone: phone,
			}})
			if len(rows) == 1000 || i == o.importRows-1 {
				if err := stream.Send(&leadv1.ImportLeadsRequest{Kind: &leadv1.ImportLeadsRequest_Rows{Rows: &leadv1.ImportRows{Rows: rows}}}); err != nil {
					sendErr <- err
					return
				}
				rows = nil
			}
		}
		sendErr <- nil
	}()
	var job *leadv1.ImportJob
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("grpc import: %w", err)
		}
		if j := resp.GetJob(); j != nil {
			job = j
		}
	}
	if err := <-sendErr; err != nil {
		return err
	}
	res := importResult{name: "gRPC ImportLeads stream", rows: o.importRows, elapsed: time.Since(start), created: job.GetCounts().GetCreated()}
	if res.catchUp, res.outboxed, err = relayCatchUp(ctx, pool); err != nil {
		return err
	}
	rep.imports = append(rep.imports, res)

	step(fmt.Sprintf("import: %d rows as a CSV upload through the gateway", o.importRows))
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriterSize(pw, 1<<20)
		fmt.Fprintln(w, "first_name,last_name,company,email,phone")
		for i := range o.importRows {
			first, last, company, email, phone := row("c", i)
			fmt.Fprintf(w, "%s,%s,%s,%s,%s\n", first, last, company, email, phone)
		}
		_ = w.Flush()
		_ = pw.Close()
	}()
	start = time.Now()
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+httpAddr+"/v1/leads:importCsv?displayName=leadbench-csv&requestId="+uuid.NewString(), pr)
	req.Header.Set("Content-Type", "text/csv")
	req.Header.Set("Authorization", authorization)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("csv import: %d %s", resp.StatusCode, b)
	}
	var last map[string]any
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	shown := 0
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) == nil {
			if j, ok := line["job"].(map[string]any); ok {
				last = j
			}
			if p, ok := line["progress"].(map[string]any); ok && shown < 3 {
				if rj, ok := p["rejections"].([]any); ok && len(rj) > 0 {
					step(fmt.Sprintf("import: csv rejection sample: %v", rj[0]))
					shown++
				}
			}
		}
	}
	res = importResult{name: "CSV upload via gateway", rows: o.importRows, elapsed: time.Since(start)}
	if c, ok := last["counts"].(map[string]any); ok {
		fmt.Sscan(fmt.Sprint(c["created"]), &res.created)
	}
	if res.catchUp, res.outboxed, err = relayCatchUp(ctx, pool); err != nil {
		return err
	}
	rep.imports = append(rep.imports, res)
	return nil
}

// relayCatchUp waits until the outbox is empty and says how long that took
// and how many rows it held at the start.
func relayCatchUp(ctx context.Context, pool *pgxpool.Pool) (time.Duration, int64, error) {
	start := time.Now()
	var first int64 = -1
	for {
		var n int64
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&n); err != nil {
			return 0, 0, err
		}
		if first < 0 {
			first = n
		}
		if n == 0 {
			return time.Since(start), first, nil
		}
		if time.Since(start) > 10*time.Minute {
			return 0, 0, fmt.Errorf("outbox still holds %d rows after 10 minutes", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
