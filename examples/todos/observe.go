package main

import (
	"context"
	"log/slog"

	"github.com/wsroute/wsroute"
)

// observer logs the Router's events: opens and closes at info level, every
// handled message at debug level (run with -debug), failed ones at info.
func observer(logger *slog.Logger) *wsroute.Observer {
	return &wsroute.Observer{
		OnOpen: func(_ context.Context, c *wsroute.Channel) {
			logger.Info("channel opened", "channel", c.Name(), "id", c.ID(), "remote", c.RemoteAddr())
		},
		OnClose: func(_ context.Context, c *wsroute.Channel, info wsroute.CloseInfo) {
			logger.Info("channel closed", "channel", c.Name(), "id", c.ID(),
				"code", int(info.Code), "reason", info.Reason, "byPeer", info.ByPeer)
		},
		OnMessage: func(ctx context.Context, c *wsroute.Channel, info wsroute.MessageInfo) {
			level := slog.LevelDebug
			if info.Code != "" {
				level = slog.LevelInfo
			}
			logger.Log(ctx, level, "message", "channel", c.Name(), "id", c.ID(),
				"route", info.Route, "code", info.Code, "duration", info.Duration)
		},
	}
}
