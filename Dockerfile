# Multi-stage: build with the Rust toolchain, run on a slim Debian.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
RUN cargo build --release --bin redshard

FROM debian:bookworm-slim
COPY --from=build /src/target/release/redshard /usr/local/bin/redshard
COPY conf /etc/redshard/examples
EXPOSE 22121 22222 9121
ENTRYPOINT ["/usr/local/bin/redshard"]
CMD ["-c", "/etc/redshard/redshard.yml"]
