// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Push profiles to a Pyroscope-compatible /ingest endpoint.
 *
 * The request, as Pyroscope's ingest handler and Grafana Alloy's
 * pyroscope.receive_http read it:
 *
 *   POST {url}/ingest?name=<app>{k=v,...}&from=<unix s>&until=<unix s>
 *        &format=pprof&sampleRate=<hz>&spyName=pyspy
 *
 * The server names the profile type after the pprof's sample types:
 * cpu/nanoseconds in cpu mode, wall/nanoseconds in wall mode (Pyroscope's
 * wall-time type, as its own agents send it).
 *   Content-Type: application/octet-stream
 *   body: the pprof protobuf, gzipped (the server accepts it plain too)
 *
 * With format=pprof the body is the profile itself; the multipart form
 * (a "profile" part plus "sample_type_config") is only looked for when
 * format is absent, and is needed only for sample types the server does
 * not know. The name is percent-encoded as a whole; in it the app name is
 * [A-Za-z0-9._-] and label values may not hold ',', '{', '}' or '=', so
 * everything put there is reduced to [A-Za-z0-9._-].
 *
 * Threads: pusher__push runs on the caller's thread and only encodes and
 * queues (under the lock, no I/O). One worker thread owns the network: it
 * takes the oldest body off the queue, sends it without the lock, and on a
 * failure worth retrying (no answer, timeout, 408, 429, 5xx) puts it back
 * at the head and waits out a backoff that doubles per failure, with
 * jitter, and is reset by a success. A body is dropped after max_attempts,
 * on any other answer (a 4xx will not get better), or when newer bodies
 * need its room in the queue. Order is kept: the head blocks the rest,
 * which is what a server that is down needs anyway.
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <zlib.h>

#include "monoclock.h"
#include "pprof.h"
#include "profile.h"
#include "push.h"

#define DEFAULT_QUEUE_BYTES (32u << 20)
#define DEFAULT_TIMEOUT_S 10
#define DEFAULT_RETRY_MIN_MS 1000
#define DEFAULT_RETRY_MAX_MS 60000
#define DEFAULT_MAX_ATTEMPTS 8
#define DEFAULT_SERVICE "python"
/*
 * Pyroscope rewrites the frames of profiles from the spy names it knows as
 * scripting languages (pyspy, rbspy) to "<file>:<line> - <function>", the
 * names its own Python integration shows; under any other spy name a bare
 * "<module>" or "main" of every script would be one node of the flame graph.
 */
#define SPY_NAME "pyspy"
#define NAME_PART_MAX 128
#define REPLY_KEEP 160

struct body {
	struct body *next;
	char *url;
	char service[NAME_PART_MAX]; /* its app name, for on_result */
	uint8_t *data;
	size_t len;
	uint64_t samples;
	unsigned int attempts;
};

struct pusher {
	/* set up by pusher__new, read-only afterwards */
	char *base_url;
	struct curl_slist *headers;
	size_t max_queue_bytes;
	unsigned int timeout_s, sample_rate_hz;
	unsigned int retry_min_ms, retry_max_ms, max_attempts;
	void (*on_result)(void *arg, const struct push_result *r);
	void *on_result_arg;

	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;

	/* under lock */
	struct body *head, *tail;
	size_t nqueued, queued_bytes;
	size_t inflight_bytes; /* body being sent, off the queue; 0 if none */
	bool inflight;
	bool stopping;
	bool stopped;	     /* worker joined */
	int64_t deadline_ms; /* when stopping: give up at this time */
	int64_t next_try_ms; /* backoff: no attempt before this */
	struct push_stats stats;

	/* read by the transfer's progress callback without the lock */
	int64_t abort_at_ms;

	/* worker only */
	CURL *curl;
	unsigned int backoff_ms;
	uint64_t rng;
	char reply[REPLY_KEEP];
	size_t reply_len;
};

static int64_t now_ms(void)
{
	return (int64_t)(monoclock__ns() / 1000000);
}

static void body_free(struct body *b)
{
	if (!b)
		return;
	free(b->url);
	free(b->data);
	free(b);
}

/* ---- encoding, on the caller's thread ---- */

/* Copy with every byte outside [A-Za-z0-9._-] replaced by '_'; `fallback` if empty. */
static void name_part(const char *in, const char *fallback, char *out, size_t outlen)
{
	size_t n = 0;

	for (; in && in[n] && n + 1 < outlen; n++) {
		char c = in[n];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';

		out[n] = ok ? c : '_';
	}
	out[n] = '\0';
	if (!n)
		snprintf(out, outlen, "%s", fallback);
}

/* Percent-encode everything but RFC 3986's unreserved characters. NULL on ENOMEM. */
static char *pct_encode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t len = strlen(s);
	char *out = malloc(3 * len + 1), *o = out;

	if (!out)
		return NULL;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o = '\0';
	return out;
}

static int gzip_buf(const uint8_t *in, size_t inlen, uint8_t **out, size_t *outlen)
{
	z_stream z = {0};
	uint8_t *buf;
	uLong bound;
	int err = 0;

	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return -ENOMEM;
	bound = deflateBound(&z, (uLong)inlen) + 32;
	buf = malloc(bound);
	if (!buf) {
		err = -ENOMEM;
		goto out_end;
	}
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)inlen;
	z.next_out = buf;
	z.avail_out = (uInt)bound;
	if (inlen > UINT32_MAX || deflate(&z, Z_FINISH) != Z_STREAM_END) {
		free(buf);
		err = -EOVERFLOW;
		goto out_end;
	}
	*out = buf;
	*outlen = z.total_out;
out_end:
	deflateEnd(&z);
	return err;
}

static const char *service_of(const struct profile *prof, size_t i)
{
	const struct profile_labels *l = profile__sample_labels(prof, i);

	return l->service && *l->service ? l->service : DEFAULT_SERVICE;
}

struct sort_ctx {
	const struct profile *prof;
};

static int by_service(const void *a, const void *b, void *arg)
{
	const struct sort_ctx *c = arg;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int r = strcmp(service_of(c->prof, x), service_of(c->prof, y));

	return r ? r : (x > y) - (x < y);
}

/*
 * Add sample i of prof to part, frames rebuilt from the location ids.
 * Profiling servers make every string label a series label; thread names
 * (thread pools name threads by number) would multiply series, so they are
 * left out of pushes (pid and tid stay: numeric labels are not series), and
 * so is `service`: every sample of a part has the same one, and the server
 * has it already as the series' service_name (the app name of the request).
 * 0 or -ENOMEM.
 */
static int copy_sample(struct profile *part, const struct profile *prof, size_t i,
		       struct profile_frame **frames, size_t *cap)
{
	struct profile_labels labels = *profile__sample_labels(prof, i);
	size_t n;
	const size_t *locs = profile__sample_locations(prof, i, &n);

	if (n > *cap) {
		struct profile_frame *grown = reallocarray(*frames, n, sizeof(**frames));

		if (!grown)
			return -ENOMEM;
		*frames = grown;
		*cap = n;
	}
	for (size_t k = 0; k < n; k++) {
		const struct profile_frame *fn =
		    profile__function(prof, profile__location_function(prof, locs[k]));

		(*frames)[k] = *fn;
		(*frames)[k].line = profile__location_line(prof, locs[k]);
	}
	labels.thread_name = NULL;
	labels.service = NULL;
	return profile__add_timed(part, &labels, *frames, n, profile__sample_value(prof, i),
				  profile__sample_ns(prof, i));
}

/* The ingest URL of one part; its app name goes to svc. NULL on ENOMEM. */
static char *ingest_url(const struct pusher *p, const char *service, const char *host,
			const char *container, int64_t from_ns, int64_t until_ns,
			char svc[NAME_PART_MAX])
{
	char h[NAME_PART_MAX], cid[NAME_PART_MAX], *name, *enc, *url = NULL;
	char rate[32] = "";
	int64_t from = from_ns / 1000000000, until = until_ns / 1000000000;

	if (from_ns % 1000000000 < 0)
		from--;
	if (until_ns % 1000000000 > 0)
		until++;
	if (until < from)
		until = from;
	name_part(service, DEFAULT_SERVICE, svc, NAME_PART_MAX);
	name_part(host, "unknown", h, sizeof(h));
	name_part(container, "", cid, sizeof(cid));
	if (asprintf(&name, "%s{host=%s%s%s}", svc, h, *cid ? ",container_id=" : "", cid) < 0)
		return NULL;
	enc = pct_encode(name);
	free(name);
	if (!enc)
		return NULL;
	if (p->sample_rate_hz)
		snprintf(rate, sizeof(rate), "&sampleRate=%u", p->sample_rate_hz);
	if (asprintf(&url,
		     "%s/ingest?name=%s&from=%" PRId64 "&until=%" PRId64 "&format=pprof%s"
		     "&spyName=" SPY_NAME,
		     p->base_url, enc, from, until, rate) < 0)
		url = NULL;
	free(enc);
	return url;
}

/*
 * One body for samples order[lo..hi) (all of one service). Its container
 * label is set only when every sample has the same one. NULL on ENOMEM.
 */
static struct body *encode_part(const struct pusher *p, const struct profile *prof,
				const size_t *order, size_t lo, size_t hi, const char *host,
				int64_t from_ns, int64_t until_ns)
{
	const char *container = profile__sample_labels(prof, order[lo])->container;
	struct profile_frame *frames = NULL;
	struct profile *part;
	struct body *b = NULL;
	uint8_t *raw = NULL;
	size_t cap = 0, rawlen;

	part = profile__new(profile__meta(prof));
	if (!part)
		return NULL;
	for (size_t j = lo; j < hi; j++) {
		const char *c = profile__sample_labels(prof, order[j])->container;

		if (!c || !container || strcmp(c, container))
			container = NULL;
		if (copy_sample(part, prof, order[j], &frames, &cap))
			goto out_free_part;
	}
	if (pprof__encode(part, &raw, &rawlen))
		goto out_free_part;
	b = calloc(1, sizeof(*b));
	if (!b)
		goto out_free_raw;
	if (gzip_buf(raw, rawlen, &b->data, &b->len))
		goto out_free_body;
	b->samples = profile__total_count(part);
	b->url = ingest_url(p, service_of(prof, order[lo]), host, container, from_ns, until_ns,
			    b->service);
	if (!b->url)
		goto out_free_body;
	goto out_free_raw;

out_free_body:
	body_free(b);
	b = NULL;
out_free_raw:
	free(raw);
out_free_part:
	free(frames);
	profile__free(part);
	return b;
}

/* ---- the queue, under p->lock ---- */

static void set_error(struct pusher *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_error(struct pusher *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->stats.last_error, sizeof(p->stats.last_error), fmt, ap);
	va_end(ap);
}

static struct body *queue_pop(struct pusher *p)
{
	struct body *b = p->head;

	if (!b)
		return NULL;
	p->head = b->next;
	if (!p->head)
		p->tail = NULL;
	b->next = NULL;
	p->nqueued--;
	p->queued_bytes -= b->len;
	return b;
}

static void queue_push_back(struct pusher *p, struct body *b)
{
	b->next = NULL;
	if (p->tail)
		p->tail->next = b;
	else
		p->head = b;
	p->tail = b;
	p->nqueued++;
	p->queued_bytes += b->len;
}

static void queue_push_front(struct pusher *p, struct body *b)
{
	b->next = p->head;
	p->head = b;
	if (!p->tail)
		p->tail = b;
	p->nqueued++;
	p->queued_bytes += b->len;
}

/* Drop the oldest bodies until `room` more bytes fit. */
static void queue_make_room(struct pusher *p, size_t room)
{
	while (p->head && p->queued_bytes + p->inflight_bytes + room > p->max_queue_bytes) {
		body_free(queue_pop(p));
		p->stats.dropped++;
		set_error(p, "queue full (%zu bytes): oldest profile dropped", p->max_queue_bytes);
	}
}

int pusher__push(struct pusher *p, const struct profile *prof, const char *host, int64_t from_ns,
		 int64_t until_ns)
{
	size_t n, nparts = 0, *order;
	struct body *parts = NULL, **last = &parts, *b;
	struct sort_ctx ctx = {prof};
	int err = 0;

	if (!p || !prof)
		return -EINVAL;
	n = profile__sample_count(prof);
	if (!n)
		return 0;
	order = calloc(n, sizeof(*order));
	if (!order)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	qsort_r(order, n, sizeof(*order), by_service, &ctx);

	for (size_t lo = 0, hi; lo < n; lo = hi) {
		for (hi = lo + 1;
		     hi < n && !strcmp(service_of(prof, order[lo]), service_of(prof, order[hi]));
		     hi++)
			;
		b = encode_part(p, prof, order, lo, hi, host, from_ns, until_ns);
		if (!b) {
			err = -ENOMEM;
			goto out_free_parts;
		}
		*last = b;
		last = &b->next;
		nparts++;
	}

	pthread_mutex_lock(&p->lock);
	while ((b = parts)) {
		parts = b->next;
		if (b->len > p->max_queue_bytes) {
			p->stats.dropped++;
			set_error(p,
				  "profile of %zu bytes larger than the queue (%zu bytes): dropped",
				  b->len, p->max_queue_bytes);
			body_free(b);
			continue;
		}
		/* Only the body in flight, if any, can leave the total above the limit. */
		queue_make_room(p, b->len);
		queue_push_back(p, b);
	}
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);

out_free_parts:
	while ((b = parts)) {
		parts = b->next;
		body_free(b);
	}
	free(order);
	return err;
}

/* ---- the worker ---- */

enum outcome { SENT, RETRY, GIVE_UP };

static size_t on_reply(char *data, size_t size, size_t nmemb, void *arg)
{
	struct pusher *p = arg;
	size_t n = size * nmemb, room = sizeof(p->reply) - 1 - p->reply_len;
	size_t take = n < room ? n : room;

	for (size_t i = 0; i < take; i++) {
		char c = data[i];

		p->reply[p->reply_len++] = (c >= 0x20 && c < 0x7f) ? c : ' ';
	}
	p->reply[p->reply_len] = '\0';
	return n;
}

/* Abort the transfer once a stopping pusher's deadline has passed. */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct pusher *p = arg;
	int64_t at = __atomic_load_n(&p->abort_at_ms, __ATOMIC_ACQUIRE);

	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return at && now_ms() >= at;
}

/* Send one body (without the lock). The error text goes to err, the HTTP status to *status. */
static enum outcome send_body(struct pusher *p, const struct body *b, long timeout_ms, char *err,
			      size_t errlen, long *status)
{
	char curl_err[CURL_ERROR_SIZE] = "";
	CURLcode rc;

	p->reply_len = 0;
	p->reply[0] = '\0';
	curl_easy_setopt(p->curl, CURLOPT_URL, b->url);
	curl_easy_setopt(p->curl, CURLOPT_POSTFIELDS, (const char *)b->data);
	curl_easy_setopt(p->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)b->len);
	curl_easy_setopt(p->curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(p->curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	curl_easy_setopt(p->curl, CURLOPT_ERRORBUFFER, curl_err);
	rc = curl_easy_perform(p->curl);
	curl_easy_setopt(p->curl, CURLOPT_ERRORBUFFER, NULL);
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "%s", *curl_err ? curl_err : curl_easy_strerror(rc));
		return RETRY;
	}
	curl_easy_getinfo(p->curl, CURLINFO_RESPONSE_CODE, status);
	if (*status >= 200 && *status < 300)
		return SENT;
	snprintf(err, errlen, "HTTP %ld%s%s", *status, p->reply_len ? ": " : "", p->reply);
	if (*status == 408 || *status == 429 || *status >= 500)
		return RETRY;
	return GIVE_UP;
}

/* Next backoff wait: the current step with jitter in [step/2, step]. */
static int64_t backoff_next(struct pusher *p)
{
	unsigned int step;

	p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : p->retry_min_ms;
	if (p->backoff_ms > p->retry_max_ms || p->backoff_ms < p->retry_min_ms)
		p->backoff_ms = p->retry_max_ms;
	step = p->backoff_ms;
	p->rng ^= p->rng << 13;
	p->rng ^= p->rng >> 7;
	p->rng ^= p->rng << 17;
	return step / 2 + (int64_t)(p->rng % (step / 2 + 1));
}

/* Tell the caller's on_result what became of one attempt (no lock held). */
static void report(struct pusher *p, const struct body *b, enum outcome out, long status,
		   const char *err, int64_t started_us)
{
	struct timespec ts;
	struct push_result r = {
	    .service = b->service,
	    .status = status,
	    .error = err,
	    .bytes = b->len,
	    .samples = b->samples,
	    .attempt = b->attempts + 1,
	};

	if (!p->on_result)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	r.latency_ms =
	    (double)((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 - started_us) / 1e3;
	if (out == SENT)
		r.outcome = PUSH_SENT;
	else if (out == RETRY && r.attempt < p->max_attempts)
		r.outcome = PUSH_RETRY;
	else
		r.outcome = PUSH_DROPPED;
	p->on_result(p->on_result_arg, &r);
}

static void wait_until(struct pusher *p, int64_t when_ms)
{
	struct timespec ts;

	ts.tv_sec = when_ms / 1000;
	ts.tv_nsec = (when_ms % 1000) * 1000000;
	pthread_cond_timedwait(&p->cond, &p->lock, &ts);
}

static void *worker(void *arg)
{
	struct pusher *p = arg;
	char err[sizeof(p->stats.last_error)];
	enum outcome out;
	struct body *b;
	long timeout_ms, status;
	int64_t now, started_us;
	struct timespec ts;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		now = now_ms();
		if (p->stopping && (!p->head || now >= p->deadline_ms))
			break;
		if (!p->head) {
			pthread_cond_wait(&p->cond, &p->lock);
			continue;
		}
		if (now < p->next_try_ms) {
			/* a retry that would only come after the deadline will not happen */
			if (p->stopping && p->next_try_ms >= p->deadline_ms)
				break;
			wait_until(p, p->next_try_ms);
			continue;
		}

		b = queue_pop(p);
		p->inflight = true;
		p->inflight_bytes = b->len;
		timeout_ms = (long)p->timeout_s * 1000;
		if (p->stopping && p->deadline_ms - now < timeout_ms)
			timeout_ms = (long)(p->deadline_ms - now);
		if (timeout_ms < 1)
			timeout_ms = 1;
		pthread_mutex_unlock(&p->lock);

		err[0] = '\0';
		status = 0;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		started_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
		out = send_body(p, b, timeout_ms, err, sizeof(err), &status);
		report(p, b, out, status, err, started_us);

		pthread_mutex_lock(&p->lock);
		p->inflight = false;
		p->inflight_bytes = 0;
		b->attempts++;
		if (out == SENT) {
			p->stats.sent++;
			p->stats.sent_samples += b->samples;
			p->stats.sent_bytes += b->len;
			p->backoff_ms = 0;
			p->next_try_ms = 0;
			body_free(b);
			continue;
		}
		snprintf(p->stats.last_error, sizeof(p->stats.last_error), "%s", err);
		if (out == GIVE_UP) {
			p->stats.dropped++;
			body_free(b);
			continue;
		}
		p->stats.failed++;
		p->next_try_ms = now_ms() + backoff_next(p);
		if (b->attempts >= p->max_attempts) {
			p->stats.dropped++;
			body_free(b);
			continue;
		}
		queue_push_front(p, b);
		queue_make_room(p, 0);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* ---- lifecycle ---- */

static bool has_header(const struct push_opts *o, const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < o->nheaders; i++) {
		if (!strncasecmp(o->headers[i], name, len) && o->headers[i][len] == ':')
			return true;
	}
	return false;
}

static int headers_build(struct pusher *p, const struct push_opts *o)
{
	struct curl_slist *l = NULL, *grown;

	for (size_t i = 0; i < o->nheaders; i++) {
		const char *colon = o->headers[i] ? strchr(o->headers[i], ':') : NULL;

		if (!colon || colon == o->headers[i] || strpbrk(o->headers[i], "\r\n")) {
			curl_slist_free_all(l);
			return -EINVAL;
		}
	}
	/* Our defaults first, the caller's own after them; "Expect:" turns off 100-continue. */
	if (!has_header(o, "Content-Type")) {
		grown = curl_slist_append(l, "Content-Type: application/octet-stream");
		if (!grown)
			goto out_nomem;
		l = grown;
	}
	grown = curl_slist_append(l, "Expect:");
	if (!grown)
		goto out_nomem;
	l = grown;
	for (size_t i = 0; i < o->nheaders; i++) {
		grown = curl_slist_append(l, o->headers[i]);
		if (!grown)
			goto out_nomem;
		l = grown;
	}
	p->headers = l;
	return 0;

out_nomem:
	curl_slist_free_all(l);
	return -ENOMEM;
}

static bool url_ok(const char *url)
{
	return url && (!strncasecmp(url, "http://", 7) || !strncasecmp(url, "https://", 8)) &&
	       !strpbrk(url, " \t\r\n?#");
}

static int curl_setup(struct pusher *p)
{
	p->curl = curl_easy_init();
	if (!p->curl)
		return -ENOMEM;
	curl_easy_setopt(p->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(p->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(p->curl, CURLOPT_HTTPHEADER, p->headers);
	curl_easy_setopt(p->curl, CURLOPT_USERAGENT, "pybpf-prof");
	curl_easy_setopt(p->curl, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(p->curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(p->curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(p->curl, CURLOPT_WRITEFUNCTION, on_reply);
	curl_easy_setopt(p->curl, CURLOPT_WRITEDATA, p);
	curl_easy_setopt(p->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(p->curl, CURLOPT_XFERINFODATA, p);
	curl_easy_setopt(p->curl, CURLOPT_NOPROGRESS, 0L);
	return 0;
}

struct pusher *pusher__new(const struct push_opts *opts)
{
	pthread_condattr_t cattr;
	CURLcode crc;
	struct pusher *p;
	size_t len;
	int err;

	if (!opts || !url_ok(opts->url) || (opts->nheaders && !opts->headers)) {
		errno = EINVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->max_queue_bytes = opts->max_queue_bytes ? opts->max_queue_bytes : DEFAULT_QUEUE_BYTES;
	p->timeout_s = opts->timeout_s ? opts->timeout_s : DEFAULT_TIMEOUT_S;
	p->sample_rate_hz = opts->sample_rate_hz;
	p->retry_min_ms = opts->retry_min_ms ? opts->retry_min_ms : DEFAULT_RETRY_MIN_MS;
	p->retry_max_ms = opts->retry_max_ms ? opts->retry_max_ms : DEFAULT_RETRY_MAX_MS;
	if (p->retry_max_ms < p->retry_min_ms)
		p->retry_max_ms = p->retry_min_ms;
	p->max_attempts = opts->max_attempts ? opts->max_attempts : DEFAULT_MAX_ATTEMPTS;
	p->on_result = opts->on_result;
	p->on_result_arg = opts->on_result_arg;
	if (getrandom(&p->rng, sizeof(p->rng), GRND_NONBLOCK) != sizeof(p->rng) || !p->rng)
		p->rng = (uint64_t)now_ms() * 0x9E3779B97F4A7C15ull | 1;

	p->base_url = strdup(opts->url);
	if (!p->base_url) {
		err = -ENOMEM;
		goto out_free_p;
	}
	len = strlen(p->base_url);
	while (len > 0 && p->base_url[len - 1] == '/')
		p->base_url[--len] = '\0';
	/* The single-binary build loads libcurl here: -ELIBACC when it is missing. */
	crc = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (crc != CURLE_OK) {
		err = crc == CURLE_FAILED_INIT ? -ELIBACC : -ENOMEM;
		goto out_free_url;
	}
	err = headers_build(p, opts);
	if (err)
		goto out_global_cleanup;
	err = curl_setup(p);
	if (err)
		goto out_free_headers;

	err = -pthread_mutex_init(&p->lock, NULL);
	if (err)
		goto out_curl_cleanup;
	err = -pthread_condattr_init(&cattr);
	if (err)
		goto out_mutex_destroy;
	err = -pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
	if (!err)
		err = -pthread_cond_init(&p->cond, &cattr);
	pthread_condattr_destroy(&cattr);
	if (err)
		goto out_mutex_destroy;
	err = -pthread_create(&p->thread, NULL, worker, p);
	if (err)
		goto out_cond_destroy;
	return p;

out_cond_destroy:
	pthread_cond_destroy(&p->cond);
out_mutex_destroy:
	pthread_mutex_destroy(&p->lock);
out_curl_cleanup:
	curl_easy_cleanup(p->curl);
out_free_headers:
	curl_slist_free_all(p->headers);
out_global_cleanup:
	curl_global_cleanup();
out_free_url:
	free(p->base_url);
out_free_p:
	free(p);
	errno = -err;
	return NULL;
}

void pusher__stop(struct pusher *p, unsigned int drain_s)
{
	if (!p || p->stopped)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	p->deadline_ms = now_ms() + (int64_t)drain_s * 1000;
	__atomic_store_n(&p->abort_at_ms, p->deadline_ms, __ATOMIC_RELEASE);
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	p->stopped = true;
}

void pusher__free(struct pusher *p, unsigned int drain_s)
{
	struct body *b;

	if (!p)
		return;
	pusher__stop(p, drain_s);
	while ((b = queue_pop(p)))
		body_free(b);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	curl_easy_cleanup(p->curl);
	curl_global_cleanup();
	curl_slist_free_all(p->headers);
	free(p->base_url);
	free(p);
}

void pusher__stats(struct pusher *p, struct push_stats *st)
{
	pthread_mutex_lock(&p->lock);
	*st = p->stats;
	st->queued = p->nqueued + (p->inflight ? 1 : 0);
	st->queued_bytes = p->queued_bytes + p->inflight_bytes;
	pthread_mutex_unlock(&p->lock);
}
