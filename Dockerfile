# A Consort node image: `consort` is the entry point, e.g.
#   docker build -t consort .
#   docker run --rm consort --help
# deploy/compose.yaml runs four of them (README, "Several hosts").
#
# Two stages: the first builds wheels (plyvel compiles against libleveldb-dev
# where PyPI has no wheel for the platform), the second installs them with
# the LevelDB runtime library only, and runs as an unprivileged user (compose
# sets the user that owns the mounted consortium folder).
ARG BASE=python:3.11-slim-bookworm

FROM ${BASE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential libleveldb-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY crypto crypto
COPY consensus consensus
COPY contracts contracts
COPY node node
COPY network-sim network-sim
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM ${BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends libleveldb1d \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --user-group --no-create-home --home-dir /consortium consort
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index /wheels/*.whl && rm -rf /wheels
USER consort
WORKDIR /consortium
EXPOSE 7100
ENTRYPOINT ["consort"]
CMD ["--help"]
