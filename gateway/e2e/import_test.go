package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/crmsuite/crm/platform/testkit"
)

// csvResult is a CSV import's NDJSON answer.
type csvResult struct {
	status     int
	progress   int
	job        map[string]any
	rejections map[int]string // line -> reason
	messages   map[int]string
	body       []byte
}

func (s *stack) importCSV(t *testing.T, query, body string) csvResult {
	t.Helper()
	req, _ := http.NewRequest("POST", s.base+"/v1/leads:importCsv?"+query, strings.NewReader(body))
	req.Header.Set("Content-Type", "text/csv")
	req.Header.Set("Authorization", testkit.Bearer("importer"))
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := csvResult{status: resp.StatusCode, rejections: map[int]string{}, messages: map[int]string{}}
	var buf bytes.Buffer
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		buf.Write(sc.Bytes())
		buf.WriteByte('\n')
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("not JSON: %s", sc.Bytes())
		}
		if p, ok := line["progress"].(map[string]any); ok {
			r.progress++
			rj, _ := p["rejections"].([]any)
			for _, x := range rj {
				m := x.(map[string]any)
				var n int
				fmt.Sscan(fmt.Sprint(m["line"]), &n)
				r.rejections[n], r.messages[n] = m["reason"].(string), fmt.Sprint(m["message"])
			}
		}
		if j, ok := line["job"].(map[string]any); ok {
			r.job = j
		}
	}
	r.body = buf.Bytes()
	return r
}

func (r csvResult) count(name string) string {
	c, _ := r.job["counts"].(map[string]any)
	if v, ok := c[name]; ok {
		return fmt.Sprint(v)
	}
	return "0"
}

func TestCSVImportReportsBadRowsByLineAndImportsTheRest(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	huge := strings.Repeat("x", 10<<20)                                                // a 10 MB single line
	csv := "first_name,last_name,company,email,phone,rating,custom.tier,Shoe Size\n" + // line 1
		"Ada,Lovelace,Analytical Engines,ada@example.com,+44 20 7946 0018,hot,gold,38\n" + // 2
		"Grace,Hopper,Navy,grace@navy.example,,WARM,,\n" + // 3
		"\"Multi\nLine\",Person,Quoted Co,multi@example.com,,,,\n" + // 4-5: quoted newline, one row
		"Bad\xffByte,Enc,Co,enc@example.com,,,,\n" + // 6: not UTF-8
		"Too,Few,Fields\n" + // 7
		"Ann,Other,Co,not-an-email,,,,\n" + // 8: rejected by the service
		"Big," + huge + ",Co,big@example.com,,,,\n" + // 9: 10 MB
		"Ada,Lovelace,Analytical Engines,ADA@example.com,,,,\n" + // 10: duplicate of line 2
		"Last,Row,Co,last@example.com,,cold,,\n" // 11
	r := s.importCSV(t, "unknownColumns=custom_fields&displayName=expo.csv", csv)
	if r.status != 200 || r.job == nil {
		t.Fatalf("status %d: %.2000s", r.status, r.body)
	}
	want := map[int]string{6: "INVALID_ROW", 7: "INVALID_ROW", 8: "INVALID_ROW", 9: "INVALID_ROW", 10: "DUPLICATE_SKIPPED"}
	if fmt.Sprint(r.rejections) != fmt.Sprint(want) {
		t.Fatalf("rejections %v, want %v\n%.3000s", r.rejections, want, r.body)
	}
	for line, part := range map[int]string{6: "UTF-8", 7: "fields", 8: "email", 9: "bytes"} {
		if !strings.Contains(r.messages[line], part) {
			t.Fatalf("line %d: message %q should mention %q", line, r.messages[line], part)
		}
	}
	if r.count("created") != "4" || r.count("rejected") != "4" || r.count("skipped") != "1" || r.job["state"] != "STATE_SUCCEEDED" {
		t.Fatalf("job = %v", r.job)
	}
	// Quoted newline kept; custom and unknown columns became custom fields.
	list := s.do(t, "GET", "/v1/leads?filter="+urlq(`email = "multi@example.com"`), nil).want(t, 200)
	if !strings.Contains(string(list.raw), `Multi\nLine`) {
		t.Fatalf("quoted newline lost: %s", list.raw)
	}
	ada := s.do(t, "GET", "/v1/leads?filter="+urlq(`email = "ada@example.com"`), nil).want(t, 200)
	if !strings.Contains(string(ada.raw), `"tier":"gold"`) || !strings.Contains(string(ada.raw), `"shoe_size":"38"`) ||
		!strings.Contains(string(ada.raw), `"rating":"RATING_HOT"`) || !strings.Contains(string(ada.raw), `"source":"SOURCE_IMPORT"`) {
		t.Fatalf("imported lead = %s", ada.raw)
	}
	// The job stays readable.
	job := s.do(t, "GET", "/v1/"+r.job["name"].(string), nil).want(t, 200)
	if job.str("displayName") != "expo.csv" {
		t.Fatalf("job = %s", job.raw)
	}
}

func TestCSVFilesThatCannotStartAre400(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	cases := []struct {
		name, query, body, reason string
	}{
		{"empty file", "", "", "EMPTY_FILE"},
		{"duplicate column", "", "last_name,email,Email\nx,a@b.co,c@d.co\n", "INVALID_HEADER"},
		{"unknown column rejected", "unknownColumns=reject", "last_name,shoe_size\nx,1\n", "INVALID_HEADER"},
		{"data instead of a header", "", "Ada,Lovelace,ada@example.com\n", "INVALID_HEADER"},
		{"missing name columns", "", "email,title\na@b.co,CEO\n", "MISSING_COLUMN"},
		{"upsert without email", "mode=UPSERT_BY_EMAIL", "last_name\nx\n", "MISSING_COLUMN"},
		{"bad option", "duplicatePolicy=MAYBE", "last_name\nx\n", "INVALID_ARGUMENT"},
	}
	for _, c := range cases {
		r := s.importCSV(t, c.query, c.body)
		if r.status != 400 || !strings.Contains(string(r.body), `"reason":"`+c.reason+`"`) || !strings.Contains(string(r.body), "fieldViolations") {
			t.Errorf("%s: %d %s", c.name, r.status, r.body)
		}
	}
	if leads, _ := s.do(t, "GET", "/v1/leads", nil).want(t, 200).body["leads"].([]any); len(leads) != 0 {
		t.Fatalf("%d leads created by refused files", len(leads))
	}
}

func TestCSVImportRowLimitAndResend(t *testing.T) {
	t.Parallel()
	s := startStack(t, "IMPORT_MAX_ROWS=1000", "IMPORT_BATCH_ROWS=300")
	var b strings.Builder
	b.WriteString("last_name,email\n")
	for i := range 1001 {
		fmt.Fprintf(&b, "Row %d,row%d@example.com\n", i, i)
	}
	r := s.importCSV(t, "requestId=3f6d0a52-7c1e-4b8a-9f2d-1e0c9b8a7d6f", b.String())
	if r.job["state"] != "STATE_FAILED" || r.count("created") != "1000" || r.rejections[1002] != "ROW_LIMIT_EXCEEDED" {
		t.Fatalf("job = %v, rejections %v", r.job, r.rejections)
	}
	// The same file again: finished jobs are not redone; a failed one
	// resumes and creates nothing twice.
	again := s.importCSV(t, "requestId=3f6d0a52-7c1e-4b8a-9f2d-1e0c9b8a7d6f", b.String())
	if again.count("created") != "0" || again.count("skipped") != "1000" {
		t.Fatalf("re-sent = %v", again.job)
	}
	list := s.do(t, "GET", "/v1/leads?pageSize=500", nil).want(t, 200)
	if !slices.Contains([]int{500}, len(list.body["leads"].([]any))) || list.str("nextPageToken") == "" {
		t.Fatalf("listing after import = %d leads", len(list.body["leads"].([]any)))
	}
}

func urlq(s string) string {
	return strings.NewReplacer(" ", "%20", `"`, "%22", "=", "%3D", "@", "%40").Replace(s)
}

// A file larger than any buffer on the way, streamed as it is written.
func TestCSVImportStreamsLargeFilesWhole(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	pr, pw := io.Pipe()
	const n = 20000
	go func() {
		w := bufio.NewWriterSize(pw, 1<<20)
		fmt.Fprintln(w, "first_name,last_name,company,email,phone")
		for i := range n {
			fmt.Fprintf(w, "Imp,c%d,Import Co %d,c%d@import.example,+1 917 %07d\n", i, i%5000, i, i)
		}
		_ = w.Flush()
		_ = pw.Close()
	}()
	req, _ := http.NewRequest("POST", s.base+"/v1/leads:importCsv", pr)
	req.Header.Set("Authorization", testkit.Bearer("importer"))
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var last []byte
	rejections := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		last = append(last[:0], sc.Bytes()...)
		if bytes.Contains(sc.Bytes(), []byte(`"rejections"`)) && rejections < 3 {
			rejections++
			t.Logf("%.500s", sc.Bytes())
		}
	}
	if !bytes.Contains(last, []byte(fmt.Sprintf(`"created":"%d"`, n))) {
		t.Fatalf("last line %s", last)
	}
}
