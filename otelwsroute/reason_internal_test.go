package otelwsroute

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/wsroute/wsroute"
)

func TestCloseReason(t *testing.T) {
	for in, want := range map[string]string{
		wsroute.ReasonSlowConsumer:            wsroute.ReasonSlowConsumer,
		wsroute.ReasonShutdown:                wsroute.ReasonShutdown,
		wsroute.ReasonRefused + ": forbidden": wsroute.ReasonRefused,
		wsroute.ReasonRefused:                 wsroute.ReasonRefused,
		"message too big":                     "message too big",
		"":                                    "none",
		"bye, see you tomorrow":               "other",
		wsroute.ReasonRefused + "x":           "other",
	} {
		assert.Equal(t, want, closeReason(in), in)
	}
}
