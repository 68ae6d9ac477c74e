# FlowMesh node image: no base image, only the static binaries built on the
# host (nothing is pulled). Build it with scripts/compose.sh build, or:
#
#   CGO_ENABLED=0 go build -o bin/flowmesh-node ./cmd/node
#   CGO_ENABLED=0 go build -o bin/flowmesh ./cmd/flowmesh
#   docker build -t flowmesh:local .
#
# The node runs as uid 65532 with its data in the /data volume. Every flag
# also reads FLOWMESH_<FLAG> from the environment (see cmd/node/doc.go).
FROM scratch
COPY deploy/docker/rootfs/etc/passwd deploy/docker/rootfs/etc/group /etc/
COPY --chown=65532:65532 deploy/docker/rootfs/data /data
# /tls: certificates, gossip key and auth file of `flowmesh-node certs init`
# (docker-compose.yml makes them in a volume mounted here).
COPY --chown=65532:65532 deploy/docker/rootfs/tls /tls
COPY bin/flowmesh-node bin/flowmesh /
ENV FLOWMESH_DATA_DIR=/data \
    FLOWMESH_GRPC_ADDR=0.0.0.0:7400 \
    FLOWMESH_RAFT_ADDR=0.0.0.0:7401 \
    FLOWMESH_GOSSIP_ADDR=0.0.0.0:7402 \
    FLOWMESH_HTTP_ADDR=0.0.0.0:7403 \
    TMPDIR=/data
USER 65532:65532
VOLUME /data
# gRPC (clients and leader forwarding), raft, gossip (TCP and UDP), HTTP admin.
EXPOSE 7400/tcp 7401/tcp 7402/tcp 7402/udp 7403/tcp
ENTRYPOINT ["/flowmesh-node"]
