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
package serverless
