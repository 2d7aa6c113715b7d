# One image for every program of the stack (jwt, auth, gateway, smsctl);
# compose.yaml picks the program with `command`.

FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
# sqlx embeds migrations/ at build time, so the whole workspace is copied.
RUN cargo build --release --bins --locked \
    && mkdir -p /out \
    && cp target/release/jwt target/release/auth target/release/gateway target/release/smsctl /out/

FROM debian:bookworm-slim
# ca-certificates for TLS to outside services; curl for the healthchecks.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin sms
COPY --from=builder /out/ /usr/local/bin/
USER sms
ENV LOG_FORMAT=json
# Each service names its program; this default prints the CLI's help.
CMD ["smsctl", "--help"]
