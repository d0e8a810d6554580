module github.com/wsroute/wsroute/serverless

go 1.26.0

replace github.com/wsroute/wsroute => ../

require (
	github.com/aws/aws-lambda-go v1.55.1
	github.com/aws/aws-sdk-go-v2 v1.48.0
	github.com/coder/websocket v1.8.15
	github.com/wsroute/wsroute v0.0.0-00010101000000-000000000000
)

require github.com/aws/smithy-go v1.28.9 // indirect
