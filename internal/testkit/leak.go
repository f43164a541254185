package testkit

import "go.uber.org/goleak"

// goClient is the import path of the official Go client.
const goClient = "github.com/apache/rocketmq-client-go/v2/"

// IgnoreGoClient is the goleak options for a package whose tests run the
// official Go client, which leaves goroutines behind by design after
// Shutdown:
//   - its package-level request/reply cache (go-cache) runs a janitor that
//     is never stopped;
//   - the shared client's periodic tasks (route refresh, heartbeat, offset
//     persist, ...) sleep 1 to 10 s before they first look at the done
//     channel, and an admin client's is never shut down;
//   - every consumer's statistics set starts tickers that sleep until the
//     next minute, hour and month first and are never closed;
//   - a transaction producer's check-back loop reads a channel that
//     Shutdown never closes;
//   - pulls in flight when a consumer shuts down wait for their reply or
//     timeout, as do requests from the broker being handled (a rebalance
//     after NOTIFY_CONSUMER_IDS_CHANGED), and the shared client's
//     connections keep their read loops.
//
// Each is named by the goroutine's own function, so a leak of Wharf's
// still fails the test.
func IgnoreGoClient() []goleak.Option {
	fns := []string{
		"github.com/patrickmn/go-cache.(*janitor).Run",
		goClient + "internal/remote.(*remotingClient).connect.func1",
		goClient + "internal/remote.(*remotingClient).processCMD.func1",
		goClient + "internal/remote.(*remotingClient).processCMD.func2",
		goClient + "consumer.(*pushConsumer).Start.func1.1.1",
		goClient + "consumer.(*pushConsumer).Start.func1.2",
		goClient + "consumer.(*pushConsumer).Start.func1.3",
		goClient + "consumer.(*defaultPullConsumer).Start.func1",
		goClient + "consumer.(*defaultPullConsumer).Start.func1.1.1",
		goClient + "producer.(*transactionProducer).Start.func1",
	}
	for i := 1; i <= 5; i++ {
		fns = append(fns, goClient+"internal.(*rmqClient).Start.func1."+string(rune('0'+i)))
	}
	for i := 1; i <= 6; i++ {
		fns = append(fns, goClient+"consumer.(*statsItemSet).init.func"+string(rune('0'+i)))
	}
	opts := make([]goleak.Option, len(fns))
	for i, f := range fns {
		opts[i] = goleak.IgnoreAnyFunction(f)
	}
	return opts
}
