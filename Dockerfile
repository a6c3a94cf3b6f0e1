# signoff's container image: a static binary on an empty base.
#   docker build -t signoff .          (or: podman build -t signoff .)
#   docker run --rm -p 127.0.0.1:8080:8080 -v signoff-data:/data \
#     -v "$PWD/signoff.yaml:/etc/signoff/signoff.yaml:ro" signoff
# cmd/signoff/examples/compose.yaml runs it beside a nats-server.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# modernc.org/sqlite is pure Go: the binary is static without cgo.
# (.git is not in the build context, so there is no VCS stamp to read.)
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags="-s -w" -o /out/signoff ./cmd/signoff \
 && mkdir -p /out/empty

FROM scratch
# CA certificates for https RPs and OIDC providers, and a /tmp for sqlite.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build --chown=65532:65532 /out/empty /tmp
COPY --from=build /out/empty /etc/signoff
COPY --from=build --chown=65532:65532 /out/empty /data
COPY --from=build /out/signoff /signoff
# sqlite, the embedded JetStream store, the generated keys and secret.key
# live in /data: keep it on a volume.
ENV SIGNOFF_DATA_DIR=/data \
    SIGNOFF_LISTEN=0.0.0.0:8080
VOLUME /data
# HTTP (pages, /healthz, /readyz, /metrics, /jwks.json); 4222 only with nats.listen.
EXPOSE 8080
USER 65532:65532
# No curl in an empty image: signoff checks its own /healthz (on the port of SIGNOFF_LISTEN).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["/signoff", "healthcheck"]
ENTRYPOINT ["/signoff", "serve"]
CMD ["--config", "/etc/signoff/signoff.yaml"]
