# Operator and CI entry points. Run `make help` for the list.
SHELL := /bin/bash

.PHONY: help run test test-compose lint compose-check clean

help:
	@echo "make run            the whole stack in the foreground (scripts/run-stack.sh); Ctrl-C stops it"
	@echo "make test           nats-server + Postgres check, debug build, cargo test --workspace (ARGS=... passed on)"
	@echo "make test-compose   HTTP-level tests against a running stack (SMS_GATEWAY_URL, default http://127.0.0.1:8080)"
	@echo "make lint           cargo fmt --check and clippy -D warnings"
	@echo "make compose-check  validate compose.yaml (docker-compose config -q)"
	@echo "make clean          cargo clean and the stack's logs (keeps .run/secrets.env)"

run:
	bash scripts/run-stack.sh

test:
	bash scripts/test.sh $(ARGS)

test-compose:
	SMS_GATEWAY_URL=$${SMS_GATEWAY_URL:-http://127.0.0.1:8080} cargo test -p tests --test it -- --test-threads=4 external::

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings

# Syntax only: the keys and passwords get stand-in values when unset.
compose-check:
	@export SIGNING_KEY_ENCRYPTION_KEY=$${SIGNING_KEY_ENCRYPTION_KEY:-unset} \
	        REFRESH_TOKEN_KEY=$${REFRESH_TOKEN_KEY:-unset} \
	        PARTNER_SECRET_PEPPER=$${PARTNER_SECRET_PEPPER:-unset} \
	        SMS_NATS_GATEWAY_PASSWORD=$${SMS_NATS_GATEWAY_PASSWORD:-unset} \
	        SMS_NATS_AUTH_PASSWORD=$${SMS_NATS_AUTH_PASSWORD:-unset} \
	        SMS_NATS_JWT_PASSWORD=$${SMS_NATS_JWT_PASSWORD:-unset} \
	        SMS_NATS_ADMIN_PASSWORD=$${SMS_NATS_ADMIN_PASSWORD:-unset} \
	        SMS_NATS_EXTENSION_PASSWORD=$${SMS_NATS_EXTENSION_PASSWORD:-unset}; \
	if command -v docker-compose >/dev/null 2>&1; then \
	    docker-compose -f compose.yaml config -q && echo "compose.yaml: ok (docker-compose)"; \
	elif docker compose version >/dev/null 2>&1; then \
	    docker compose -f compose.yaml config -q && echo "compose.yaml: ok (docker compose)"; \
	else \
	    echo "compose-check: neither docker-compose nor docker compose is installed; skipped (apt-get install docker-compose)"; \
	fi

# .run/secrets.env stays: the local database's signing key is sealed with it.
clean:
	cargo clean
	rm -f .run/*.log .run/stack.env .run/stack.env.tmp
