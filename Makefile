GO ?= go
BIN := bin/jitbot

.PHONY: build test bench demo vet fmt clean

build:
	$(GO) build -o $(BIN) ./cmd/jitbot

test:
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 30m ./...

demo:
	$(GO) run ./cmd/jitbot demo

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
