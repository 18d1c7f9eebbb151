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

/* What became of one request, reported to push_opts.on_result. */
enum push_outcome {
	PUSH_SENT,    /* answered 2xx */
	PUSH_RETRY,   /* failed, queued again for a retry */
	PUSH_DROPPED, /* failed for good: a 4xx other than 408/429, or the last attempt */
};

struct push_result {
	const char *service; /* the app name the request carried */
	enum push_outcome outcome;
	long status;	      /* HTTP status, 0 if there was no answer */
	const char *error;    /* "" when sent */
	double latency_ms;    /* request start to answer (or failure) */
	size_t bytes;	      /* body size, gzipped */
	uint64_t samples;     /* samples in the body */
	unsigned int attempt; /* 1 for the first try */
};

struct push_opts {
	const char *url;	    /* base URL, e.g. http://pyroscope:4040 */
	const char *const *headers; /* "Name: value" strings (auth, X-Scope-OrgID) */
	size_t nheaders;
	size_t max_queue_bytes;	     /* oldest bodies dropped beyond this (counted); 0 = 32 MiB */
	unsigned int timeout_s;	     /* per request; 0 = 10 s */
	unsigned int sample_rate_hz; /* sampleRate= of the request; 0 = left out */
	/* Retries: a backoff of retry_min_ms doubling up to retry_max_ms (with
	 * jitter), at most max_attempts per body. 0 = 1 s, 60 s, 8. */
	unsigned int retry_min_ms;
	unsigned int retry_max_ms;
	unsigned int max_attempts;
	/* Called on the sending thread after every request, without locks held; NULL = none. */
	void (*on_result)(void *arg, const struct push_result *r);
	void *on_result_arg;
};

struct push_stats {
	uint64_t sent;	       /* requests answered 2xx */
	uint64_t sent_samples; /* samples in them */
	uint64_t sent_bytes;   /* their gzipped bodies */
	uint64_t failed;       /* attempts that failed (will be retried) */
	uint64_t dropped;      /* bodies dropped: queue full or retries exhausted */
	uint64_t queued;       /* bodies waiting */
	uint64_t queued_bytes;
	char last_error[256]; /* "" if none */
};

/* Start the worker. NULL with errno set. */
struct pusher *pusher__new(const struct push_opts *opts);
/*
 * Flush what is queued (waiting at most `drain_s` seconds) and stop the
 * worker; pusher__stats then gives the final totals. Later pushes are
 * still queued but never sent. Once only; pusher__free does it if not done.
 */
void pusher__stop(struct pusher *p, unsigned int drain_s);
/* pusher__stop(p, drain_s) unless stopped already, then free. NULL ok. */
void pusher__free(struct pusher *p, unsigned int drain_s);

/*
 * Queue one interval: the profile is split by its samples' `service`
 * label (samples without one go to service "python"), each part encoded
 * as pprof and queued with name=<service>{host=...,container_id=... when
 * all its samples share one}. The service is the series' service_name, so
 * the samples of a part leave out their `service` label (it would only
 * repeat it as a second series label). Never blocks on the network. 0, -EINVAL or
 * -ENOMEM (then nothing of this call is queued).
 */
int pusher__push(struct pusher *p, const struct profile *prof, const char *host, int64_t from_ns,
		 int64_t until_ns);

void pusher__stats(struct pusher *p, struct push_stats *st);

#endif
