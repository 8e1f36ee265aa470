# The coldstart worker and tools: `docker build -t coldstart .`, then `docker run coldstart worker`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# CPU-only torch first, in its own layer: about 200 MB instead of the CUDA build's gigabytes.
# Fallback without access to download.pytorch.org: delete this line; `pip install .` below
# then takes torch from PyPI (a larger image, same behaviour on CPU).
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch

COPY . .
RUN pip install . \
    && useradd --create-home --uid 10001 coldstart \
    && mkdir -p /data/models \
    && chown -R coldstart:coldstart /data

USER coldstart
ENV COLDSTART_DATA_DIR=/data \
    COLDSTART_BROKER=kafka://kafka:29092
VOLUME ["/data"]

ENTRYPOINT ["coldstart"]
CMD ["worker"]
