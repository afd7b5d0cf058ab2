# The e2e suite's "flaky trainer" test image for kind: the CPU trainer image whose `lota-trainer` fails each phase's
# first attempt with exit 20 (transient) and then runs the real trainer (e2e/fixtures/flaky-trainer.sh).
#   docker build -f e2e/kind/flaky-trainer.Dockerfile --build-arg TRAINER=<trainer image> -t lota-e2e/flaky-trainer:e2e .
ARG TRAINER=ghcr.io/lota-operator/lota-trainer:e2e
FROM ${TRAINER}
USER root
RUN mv /usr/local/bin/lota-trainer /usr/local/bin/lota-trainer-real
COPY --chmod=755 e2e/fixtures/flaky-trainer.sh /usr/local/bin/flaky-trainer.sh
RUN printf '#!/bin/sh\nexec /usr/local/bin/flaky-trainer.sh /usr/local/bin/lota-trainer-real "$@"\n' > /usr/local/bin/lota-trainer \
 && chmod 755 /usr/local/bin/lota-trainer
USER 65532
