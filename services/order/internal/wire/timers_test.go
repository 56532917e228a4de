package wire_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

// The renewal and term-end timers fire exactly once per contract across
// kill -9 of the order service while they fall due and fire, and late
// (but once) after the service was down past their due time.
func TestContractTimersFireOnceAcrossKillsAndDowntime(t *testing.T) {
	t.Parallel()
	n := testkit.NewNATS(t)
	db := testkit.Database(t)
	accountAddr, orderAddr := testkit.FreeAddr(t), testkit.FreeAddr(t)
	common := append([]string{"METRICS_ADDR=off", "NATS_URL=" + n.URL, "EVENTS_NAMESPACE=" + n.Namespace, "PAGE_TOKEN_SECRET=test",
		"LOG_LEVEL=warn", "LOG_FORMAT=text", "SHUTDOWN_TIMEOUT=5s", "ACCOUNT_GRPC_ADDR=" + accountAddr}, testkit.AuthEnv()...)
	testkit.StartProc(t, "account", testkit.Binary(t, "github.com/crmsuite/crm/services/account/cmd/account"), accountAddr,
		append(append([]string{"GRPC_ADDR=" + accountAddr}, common...), testkit.DatabaseEnv(db, "account")...)...)
	order := testkit.StartProc(t, "order", testkit.Binary(t, "github.com/crmsuite/crm/services/order/cmd/order"), orderAddr,
		append(append([]string{"GRPC_ADDR=" + orderAddr, "TIMER_POLL_INTERVAL=50ms"}, common...), testkit.DatabaseEnv(db, "order")...)...)
	accounts := accountv1.NewAccountServiceClient(testkit.Dial(t, accountAddr))
	client := orderv1.NewOrderServiceClient(testkit.Dial(t, orderAddr))
	js := n.Observer(t)
	a, err := accounts.CreateAccount(testkit.As("alice"), &accountv1.CreateAccountRequest{Account: &accountv1.Account{DisplayName: "Acme", CurrencyCode: "EUR"}})
	if err != nil {
		t.Fatal(err)
	}

	// 200 active contracts whose renewals all fall due at the same moment
	// (their timers are moved to it); the service is killed while it
	// fires them, and restarted.
	const total = 200
	for range total {
		c, err := client.CreateContract(ops, &orderv1.CreateContractRequest{Contract: &orderv1.Contract{Account: a.Name, CurrencyCode: "EUR",
			StartDate: dateIn(-11, 0), TermMonths: 12, Lines: []*orderv1.OrderLine{line("SUB", "1", eur(10, 0))}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.ActivateContract(ops, &orderv1.ActivateContractRequest{Name: c.Name}); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	dueIn := func(purpose string, d time.Duration) {
		t.Helper()
		tag, err := conn.Exec(context.Background(), `UPDATE "order".timers SET due_at = now() + $2::interval WHERE purpose = $1`, purpose, d.String())
		if err != nil || tag.RowsAffected() != total {
			t.Fatalf("%s timers: %v, %v", purpose, tag, err)
		}
	}
	dueIn("contract.renewal_due", 200*time.Millisecond)
	// Kill it at the worst moment: while its firing transaction holds the
	// timers (rows this connection must skip) and has not committed.
	testkit.Eventually(t, 10*time.Second, func() bool {
		var free int
		err := conn.QueryRow(context.Background(), `SELECT count(*) FROM (SELECT 1 FROM "order".timers
			WHERE purpose = 'contract.renewal_due' FOR UPDATE SKIP LOCKED) f`).Scan(&free)
		return err == nil && free < total
	}, "the engine firing the renewal timers")
	order.Kill()
	<-order.Done()
	var unfired int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM "order".timers WHERE purpose = 'contract.renewal_due'`).Scan(&unfired); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed with %d of %d renewal timers unfired", unfired, total)
	order.Restart()
	countEvents := func(typ string) map[string]int {
		seen := map[string]int{}
		for _, e := range n.Published(t, js, "order", 1) {
			switch ev := e.(type) {
			case *eventsv1.ContractRenewalDue:
				if typ == "due" {
					seen[ev.ContractId]++
				}
			case *eventsv1.ContractExpired:
				if typ == "expired" {
					seen[ev.ContractId]++
				}
			}
		}
		return seen
	}
	testkit.Eventually(t, 30*time.Second, func() bool { return len(countEvents("due")) == total }, "a renewal due for every contract")
	// One more kill while nothing is due changes nothing.
	order.Kill()
	<-order.Done()

	// Down past the term end: the term-end timers fall due while nobody
	// runs, then the service comes back and fires each late, once.
	dueIn("contract.term_end", 300*time.Millisecond)
	time.Sleep(time.Second)
	order.Restart()
	testkit.Eventually(t, 30*time.Second, func() bool { return len(countEvents("expired")) == total }, "every contract expired")
	time.Sleep(500 * time.Millisecond) // anything doubled would show by now
	for typ, seen := range map[string]map[string]int{"due": countEvents("due"), "expired": countEvents("expired")} {
		for id, k := range seen {
			if k != 1 {
				t.Fatalf("contract %s: %d %s events", id, k, typ)
			}
		}
	}
	var timersLeft int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM "order".timers`).Scan(&timersLeft); err != nil || timersLeft != 0 {
		t.Fatalf("%d timers left, %v", timersLeft, err)
	}
}
