# sst-b2bua container image.
#   docker build -t sst-b2bua .
#   docker run --rm -p 5060:5060/udp -p 5060:5060/tcp sst-b2bua
#   docker run --rm -v "$PWD/my.yaml:/etc/sst-b2bua/sst-b2bua.yaml:ro" ... sst-b2bua   # your own config
#   docker run --rm sst-b2bua --config /etc/sst-b2bua/sst-b2bua.yaml --check

# ---- build ----
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin sst-b2bua \
 && install -D -m 0755 target/release/sst-b2bua /out/sst-b2bua

# ---- runtime ----
FROM debian:bookworm-slim
# ca-certificates: the system trust store outbound TLS (sips: trunks) checks servers against.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 sst-b2bua \
 && useradd --system --uid 10001 --gid sst-b2bua --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin sst-b2bua
COPY --from=build /out/sst-b2bua /usr/local/bin/sst-b2bua
COPY config/sst-b2bua.yaml /etc/sst-b2bua/sst-b2bua.yaml
USER 10001:10001
EXPOSE 5060/udp 5060/tcp 5061/tcp
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/sst-b2bua"]
CMD ["--config", "/etc/sst-b2bua/sst-b2bua.yaml"]
