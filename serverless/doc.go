// Package serverless runs wsroute channel routes behind AWS API Gateway
// WebSocket APIs, with a function invocation per event ($connect,
// $disconnect and every message) instead of a process holding each socket.
//
// Between events a connection lives only in a [ChannelStore], shared by
// every function instance: its [wsroute.ChannelState] (channel route, URL,
// header, session as JSON, subscriptions) and, per topic, its subscribers,
// so that a publish reaches every connection whichever instance handles it.
// [NewMemoryStore] is for tests and single-process runs; [NewRedisStore]
// is the real one. Package storetest holds the contract tests every
// ChannelStore passes.
//
// API Gateway does not serialize the messages of one connection: two can
// run at once on two instances, each starting from the same record. Each
// writes its state back with a compare-and-swap ([ChannelStore.Update]);
// the one that finds the record changed applies its own change — the
// topics it added or removed, the session it set or cleared — to the
// record as the other left it and tries again, so neither undoes the
// other. A message that changed nothing only restarts the record's expiry
// ([ChannelStore.Touch]).
package serverless
