module github.com/wsroute/wsroute

go 1.25

require (
	github.com/coder/websocket v1.8.15
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.3
	github.com/stretchr/testify v1.12.1
	golang.org/x/text v0.14.0
)

require go.yaml.in/yaml/v3 v3.0.5 // indirect
