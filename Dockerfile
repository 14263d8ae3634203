FROM python:3.11-slim
WORKDIR /srv/tradewire
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
RUN pip install --no-cache-dir .
ENV TRADEWIRE_HOST=0.0.0.0
EXPOSE 8000
CMD ["tradewire", "api"]
