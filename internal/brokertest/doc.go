// Package brokertest holds what the tests of wsroute's broker adapters
// (modules brokers/redisbroker, brokers/natsbroker, and any later one)
// share: Run, the contract tests of wsroute.Broker that hold whatever the
// engine, which an adapter runs by describing how to make its Broker and
// how to read its engine subscriptions (Config); a fault-injecting TCP
// Proxy to put in front of an engine; and helpers to wait for what arrives.
//
// It makes no public promise. The adapter modules can import it because
// they live under the wsroute module's path; only tests import it, so the
// testing libraries it uses never reach a program built with wsroute.
package brokertest
