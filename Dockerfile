# syntax=docker/dockerfile:1

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so this layer is cached until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=
# Static binary: the final image has no libc. -buildvcs=false because the
# build context may lack .git; pass COMMIT instead.
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/exporter ./cmd/exporter

# distroless/static has CA certificates and tzdata, and runs as nonroot (65532).
FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/exporter /exporter
# The shipped schedules; mount a ConfigMap or volume over this folder to
# run your own (see schedules/README.md).
COPY --from=build /src/schedules/*.yaml /etc/exporter/schedules/
ENV EXPORTER_SCHEDULES=/etc/exporter/schedules
USER nonroot:nonroot
# /healthz and /metrics of 'exporter schedule'.
EXPOSE 9090
ENTRYPOINT ["/exporter"]
# The always-on scheduler by default; an Azure Container Apps job or a
# Kubernetes CronJob runs one job instead: args ["run", "JOB"].
CMD ["schedule"]
