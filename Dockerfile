# The same steps as README.md's first command (scripts/quickstart.sh): Debian 12 packages, a
# Release build, a data directory configured on first start. Keep the two in step.
FROM debian:12 AS build
WORKDIR /src
COPY . .
RUN bash scripts/install-deps.sh \
 && cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DEVENTFUL_TESTS=OFF \
 && cmake --build build --target eventful eventfuld

FROM debian:12
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      librocksdb7.8 libsimdjson14 libssl3 libhiredis0.14 libtomlplusplus3 redis-tools \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/bin/eventful /src/build/bin/eventfuld /usr/local/bin/
VOLUME /data
EXPOSE 9595
# First run: `docker run -it -v data:/data IMAGE eventful config --data-dir /data --generate`
# (prints the secrets once); then run with the DEK in EVENTFUL_DEK:
ENV EVENTFUL_PORT=9595
CMD ["eventfuld", "--data-dir", "/data", "--bind", "0.0.0.0"]
