// Package brokertest holds what the tests of wsroute's broker adapters
// (modules brokers/redisbroker, brokers/natsbroker, and any later one)
// share: a fault-injecting TCP proxy to put in front of an engine, and
// helpers to wait for what it lets through. It makes no public promise; the
// adapter modules can import it because they live under the wsroute module's
// path.
package brokertest
