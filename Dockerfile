# Minimal image; finished (healthcheck, non-root user, multi-arch) in a later issue.
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libssl-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libssl3 ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/certdrop /usr/local/bin/certdrop
VOLUME /data
EXPOSE 8080
ENV CERTDROP_DATA_DIR=/data CERTDROP_LISTEN=0.0.0.0:8080
ENTRYPOINT ["certdrop"]
CMD ["serve"]
