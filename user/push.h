/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Push interval profiles to a Pyroscope-compatible server (Pyroscope,
 * Grafana Alloy's pyroscope.receive_http): POST {url}/ingest?name=...&from=
 * &until=&format=pprof&sampleRate=..., one request per service. Sending
 * happens on a worker thread with retries, exponential backoff and a
 * bounded queue, so a slow or absent server never blocks sampling.
 */
#ifndef PYBPF_PUSH_H
#define PYBPF_PUSH_H

#include <stddef.h>
#include <stdint.h>

struct pusher;
struct profile;

struct push_opts {
	const char *url;               /* base URL, e.g. http://pyroscope:4040 */
	const char *const *headers;    /* "Name: value" strings (auth, X-Scope-OrgID) */
	size_t nheaders;
	size_t max_queue_bytes;        /* oldest bodies dropped beyond this (counted); 0 = 32 MiB */
	unsigned int timeout_s;        /* per request; 0 = 10 s */
	unsigned int sample_rate_hz;   /* sampleRate= of the request; 0 = left out */
	/* Retries: a backoff of retry_min_ms doubling up to retry_max_ms (with
	 * jitter), at most max_attempts per body. 0 = 1 s, 60 s, 8. */
	unsigned int retry_min_ms;
	unsigned int retry_max_ms;
	unsigned int max_attempts;
};

struct push_stats {
	uint64_t sent;         /* requests answered 2xx */
	uint64_t failed;       /* attempts that failed (will be retried) */
	uint64_t dropped;      /* bodies dropped: queue full or retries exhausted */
	uint64_t queued;       /* bodies waiting */
	uint64_t queued_bytes;
	char last_error[256];  /* "" if none */
};

/* Start the worker. NULL with errno set. */
struct pusher *pusher__new(const struct push_opts *opts);
/* Flush what is queued (waiting at most `drain_s` seconds), stop, free. NULL ok. */
void pusher__free(struct pusher *p, unsigned int drain_s);

/*
 * Queue one interval: the profile is split by its samples' `service`
 * label (samples without one go to service "python"), each part encoded
 * as pprof and queued with name=<service>{host=...,container_id=... when
 * all its samples share one}. Never blocks on the network. 0, -EINVAL or
 * -ENOMEM (then nothing of this call is queued).
 */
int pusher__push(struct pusher *p, const struct profile *prof, const char *host, int64_t from_ns,
		 int64_t until_ns);

void pusher__stats(struct pusher *p, struct push_stats *st);

#endif
