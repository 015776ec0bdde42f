# Rollcall in a container: a build stage with the Rust toolchain, and a slim
# Debian runtime that runs the binary as an unprivileged user.
#
#   docker build -t rollcall .
#   docker run -p 8080:8080 -v rollcall-data:/var/lib/rollcall rollcall
#
# UNTESTED: this file has never been built (the project's machines have no
# image registry to pull the base images from); see docs/operations.md.

FROM rust:1-slim-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends pkg-config libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p rollcall \
    && install -D -m 0755 target/release/rollcall /out/rollcall

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 rollcall \
    && useradd --system --uid 10001 --gid rollcall --no-create-home \
        --home-dir /var/lib/rollcall --shell /usr/sbin/nologin rollcall \
    && install -d -o rollcall -g rollcall -m 0700 /var/lib/rollcall
COPY --from=build /out/rollcall /usr/bin/rollcall
USER rollcall:rollcall
WORKDIR /var/lib/rollcall
VOLUME ["/var/lib/rollcall"]
# Inside a container the server must listen on all interfaces; TLS is
# expected at the load balancer in front (or give ROLLCALL_TLS_CERT/KEY).
ENV ROLLCALL_DATA_DIR=/var/lib/rollcall \
    ROLLCALL_LISTEN=0.0.0.0:8080 \
    ROLLCALL_ALLOW_INSECURE_HTTP=true \
    ROLLCALL_LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s \
    CMD curl -fsS http://127.0.0.1:8080/readyz || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/rollcall"]
CMD ["serve"]
