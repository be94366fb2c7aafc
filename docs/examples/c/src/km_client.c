/*
 * km_client — a minimal fpemu CA written from docs/protocol.md alone.
 *
 * It speaks the CA→TA framing of §1 over the Keymaster TA's Unix socket
 * (plain POSIX sockets, no dependencies) and calls Keymaster commands of §2:
 *
 *   1. OPEN_SESSION on the Keymaster UUID                       (§1.4, §1.9)
 *   2. GET_AUTH_TOKEN_KEY(gatekeeper) with a too-small buffer:
 *      TEEC_ERROR_SHORT_BUFFER and the size needed              (§1.5, §2.1)
 *   3. GET_AUTH_TOKEN_KEY(gatekeeper) again with that size: an envelope,
 *      whose clear header (§4.2) names Keymaster → Gatekeeper
 *   4. GET_AUTH_TOKEN_KEY(keymaster itself): TEEC_ERROR_ACCESS_DENIED (§2.4)
 *   5. GENERATE_KEY of a NO_AUTH_REQUIRED P-256 signing key     (§2.3, §2.4)
 *   6. BEGIN + FINISH: sign a message without any auth token     (§2.4)
 *   7. an unknown command id: TEEC_ERROR_NOT_SUPPORTED            (§1.7)
 *   8. CLOSE_SESSION                                              (§1.4)
 *
 * Each step prints one line of key=value pairs; the last line is "ok" when
 * every step gave the expected answer. Exit status 0 on success, 1 on an
 * unexpected answer, 2 on usage or connection errors.
 *
 * Build: cc -std=c99 -Wall -Wextra -o km_client src/km_client.c   (or: make)
 * Run:   ./km_client DEVICE_DIR/sock/keymaster.sock
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- TEE Client API values (GPD_SPE_007; docs/protocol.md §1.5, §1.7) ---- */

#define TEEC_SUCCESS                0x00000000u
#define TEEC_ERROR_ACCESS_DENIED    0xFFFF0001u
#define TEEC_ERROR_NOT_SUPPORTED    0xFFFF000Au
#define TEEC_ERROR_SHORT_BUFFER     0xFFFF0010u
#define TEEC_ERROR_TARGET_DEAD      0xFFFF3024u
#define TEEC_ORIGIN_COMMS           2u
#define TEEC_ORIGIN_TEE             3u
#define TEEC_ORIGIN_TRUSTED_APP     4u
#define TEEC_LOGIN_PUBLIC           0u

#define TEEC_NONE                   0x0
#define TEEC_VALUE_INPUT            0x1
#define TEEC_VALUE_OUTPUT           0x2
#define TEEC_VALUE_INOUT            0x3
#define TEEC_MEMREF_TEMP_INPUT      0x5
#define TEEC_MEMREF_TEMP_OUTPUT     0x6
#define TEEC_MEMREF_TEMP_INOUT      0x7

/* ---- framing (docs/protocol.md §1.3, §1.4) ---- */

#define FP_VERSION        2
#define OP_OPEN_SESSION   0x01
#define OP_INVOKE         0x02
#define OP_CLOSE_SESSION  0x03
#define OP_RESPONSE       0x80
#define MIN_FRAME_LEN     8u
#define MAX_FRAME_LEN     1048576u

/* ---- Keymaster (docs/protocol.md §2) ---- */

#define KM_GENERATE_KEY        0x00000000u
#define KM_BEGIN               0x00000001u
#define KM_FINISH              0x00000003u
#define KM_GET_AUTH_TOKEN_KEY  0x00010000u

#define KM_TAG_PURPOSE          0x20000001u
#define KM_TAG_ALGORITHM        0x10000002u
#define KM_TAG_DIGEST           0x20000005u
#define KM_TAG_EC_CURVE         0x1000000Au
#define KM_TAG_NO_AUTH_REQUIRED 0x700001F7u
#define KM_PURPOSE_SIGN         2u
#define KM_ALGORITHM_EC         3u
#define KM_DIGEST_SHA_2_256     4u
#define KM_EC_CURVE_P_256       1u

static const char *KEYMASTER_UUID  = "784c5e57-59a1-4dde-85a0-538c9d06415a";
static const char *GATEKEEPER_UUID = "b8064747-77ef-4833-936e-8d63a84cf7f8";

/* One TEEC_Parameter. For memrefs, buf/size follow TEEC_TempMemoryReference:
 * size is the buffer capacity on entry and the produced size on return. */
struct param {
	uint8_t type;
	uint32_t a, b;
	uint8_t *buf;
	uint32_t size;
};

struct conn {
	int fd;
	uint32_t next_request_id;
};

/* ---- big-endian helpers (§1.2) ---- */

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);  p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_u64(const uint8_t *p)
{
	return (uint64_t)get_u32(p) << 32 | get_u32(p + 4);
}

/* A 64-bit number (an operation handle, a challenge) travels in one VALUE
 * parameter as a = low 32 bits, b = high 32 bits, for every TA (§1.2,
 * protocol revision 2). */
static uint64_t value_u64(const struct param *p)
{
	return (uint64_t)p->b << 32 | p->a;
}

static struct param value_input_u64(uint64_t v)
{
	return (struct param){.type = TEEC_VALUE_INPUT, .a = (uint32_t)v, .b = (uint32_t)(v >> 32)};
}

/* parse_uuid turns the canonical 8-4-4-4-12 text into the 16 TEEC_UUID bytes
 * (timeLow, timeMid, timeHiAndVersion big-endian, then clockSeqAndNode): the
 * byte order of the text itself (§1.4). */
static int parse_uuid(const char *s, uint8_t out[16])
{
	int n = 0;
	for (size_t i = 0; s[i] != '\0'; i++) {
		if (s[i] == '-')
			continue;
		unsigned v;
		if (n >= 32 || sscanf(s + i, "%1x", &v) != 1)
			return -1;
		if (n % 2 == 0)
			out[n / 2] = (uint8_t)(v << 4);
		else
			out[n / 2] |= (uint8_t)v;
		n++;
	}
	return n == 32 ? 0 : -1;
}

static void format_uuid(const uint8_t u[16], char out[37])
{
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9],
		 u[10], u[11], u[12], u[13], u[14], u[15]);
}

static void print_hex(const char *name, const uint8_t *p, uint32_t n)
{
	printf(" %s=", name);
	for (uint32_t i = 0; i < n; i++)
		printf("%02x", p[i]);
}

/* ---- I/O: frames may be split over several read/write calls (§1.1) ---- */

static int write_full(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int read_full(int fd, uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1; /* EOF or error: the TA is gone */
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* ---- parameter blocks (§1.5) ---- */

/* request_params_len: bytes of a request parameter block. */
static size_t request_params_len(const struct param p[4])
{
	size_t n = 4;
	for (int i = 0; i < 4; i++) {
		switch (p[i].type) {
		case TEEC_VALUE_INPUT: case TEEC_VALUE_INOUT: n += 8; break;
		case TEEC_MEMREF_TEMP_INPUT: n += 4 + p[i].size; break;
		case TEEC_MEMREF_TEMP_OUTPUT: n += 4; break;
		case TEEC_MEMREF_TEMP_INOUT: n += 8 + p[i].size; break;
		default: break; /* NONE, VALUE_OUTPUT: nothing */
		}
	}
	return n;
}

/* put_request_params writes a request block. For INOUT memrefs this client
 * sends as many bytes as the buffer holds (size = capacity). */
static uint8_t *put_request_params(uint8_t *w, const struct param p[4])
{
	for (int i = 0; i < 4; i++)
		*w++ = p[i].type;
	for (int i = 0; i < 4; i++) {
		switch (p[i].type) {
		case TEEC_VALUE_INPUT: case TEEC_VALUE_INOUT:
			put_u32(w, p[i].a); put_u32(w + 4, p[i].b); w += 8;
			break;
		case TEEC_MEMREF_TEMP_INPUT:
			put_u32(w, p[i].size); w += 4;
			if (p[i].size)
				memcpy(w, p[i].buf, p[i].size);
			w += p[i].size;
			break;
		case TEEC_MEMREF_TEMP_OUTPUT:
			put_u32(w, p[i].size); w += 4; /* capacity */
			break;
		case TEEC_MEMREF_TEMP_INOUT:
			put_u32(w, p[i].size); put_u32(w + 4, p[i].size); w += 8;
			if (p[i].size)
				memcpy(w, p[i].buf, p[i].size);
			w += p[i].size;
			break;
		default:
			break;
		}
	}
	return w;
}

/* get_response_params decodes a response block of exactly n bytes into p
 * (§1.5 "response" columns, §1.11). Returns 0, or -1 if malformed. */
static int get_response_params(const uint8_t *r, size_t n, uint32_t result, struct param p[4])
{
	if (n < 4)
		return -1;
	uint8_t types[4];
	memcpy(types, r, 4);
	int all_none = !types[0] && !types[1] && !types[2] && !types[3];
	if (!all_none) {
		for (int i = 0; i < 4; i++)
			if (types[i] != p[i].type)
				return -1; /* echo of the request's types, or four NONEs */
	}
	size_t off = 4;
	for (int i = 0; i < 4 && !all_none; i++) {
		switch (types[i]) {
		case TEEC_VALUE_OUTPUT: case TEEC_VALUE_INOUT:
			if (n - off < 8)
				return -1;
			p[i].a = get_u32(r + off); p[i].b = get_u32(r + off + 4);
			off += 8;
			break;
		case TEEC_MEMREF_TEMP_OUTPUT: case TEEC_MEMREF_TEMP_INOUT: {
			if (n - off < 4)
				return -1;
			uint32_t size = get_u32(r + off);
			off += 4;
			if (result == TEEC_SUCCESS) {
				if (size > p[i].size || n - off < size)
					return -1;
				if (size)
					memcpy(p[i].buf, r + off, size);
				off += size;
			}
			p[i].size = size; /* produced, or needed with SHORT_BUFFER */
			break;
		}
		case TEEC_NONE: case TEEC_VALUE_INPUT: case TEEC_MEMREF_TEMP_INPUT:
			break;
		default:
			return -1;
		}
	}
	return off == n ? 0 : -1;
}

/* ---- one request, one response (§1.6: one outstanding request) ---- */

/* call sends a request (op, body prefix, params) and reads the response.
 * body holds the op's fixed fields (uuid+login+connection_data, session+command, session).
 * On transport failure it reports TEEC_ERROR_TARGET_DEAD/COMMS (§1.8). */
static uint32_t call(struct conn *c, uint8_t op, const uint8_t *body, size_t body_len,
		     struct param p[4], int with_params, uint32_t *origin, uint32_t *session)
{
	size_t plen = with_params ? request_params_len(p) : 0;
	size_t total = 12 + body_len + plen;
	uint8_t *req = malloc(total);
	if (!req) {
		*origin = 1; /* TEEC_ORIGIN_API */
		return 0xFFFF000Cu;
	}
	uint32_t id = c->next_request_id++;
	put_u32(req, (uint32_t)(total - 4));
	req[4] = FP_VERSION;
	req[5] = op;
	req[6] = 0;
	req[7] = 0;
	put_u32(req + 8, id);
	memcpy(req + 12, body, body_len);
	if (with_params)
		put_request_params(req + 12 + body_len, p);
	int werr = write_full(c->fd, req, total);
	free(req);

	uint8_t hdr[4];
	if (werr || read_full(c->fd, hdr, 4)) {
		*origin = TEEC_ORIGIN_COMMS;
		return TEEC_ERROR_TARGET_DEAD;
	}
	uint32_t len = get_u32(hdr);
	if (len < MIN_FRAME_LEN || len > MAX_FRAME_LEN) {
		*origin = TEEC_ORIGIN_COMMS;
		return TEEC_ERROR_TARGET_DEAD;
	}
	uint8_t *resp = malloc(len);
	if (!resp || read_full(c->fd, resp, len)) {
		free(resp);
		*origin = TEEC_ORIGIN_COMMS;
		return TEEC_ERROR_TARGET_DEAD;
	}
	/* resp[k] is frame offset 4+k. */
	uint32_t result = TEEC_ERROR_TARGET_DEAD;
	*origin = TEEC_ORIGIN_COMMS;
	if (len >= 20 && resp[0] == FP_VERSION && resp[1] == OP_RESPONSE && resp[2] == 0 &&
	    resp[3] == 0 && get_u32(resp + 4) == id) {
		uint32_t r = get_u32(resp + 8), o = get_u32(resp + 12);
		struct param tmp[4];
		memcpy(tmp, p, sizeof tmp);
		if (o >= 1 && o <= 4 && get_response_params(resp + 20, len - 20, r, tmp) == 0) {
			memcpy(p, tmp, sizeof tmp);
			result = r;
			*origin = o;
			if (session)
				*session = get_u32(resp + 16);
		}
	}
	free(resp);
	return result;
}

static uint32_t open_session(struct conn *c, const uint8_t uuid[16], uint32_t *session, uint32_t *origin)
{
	uint8_t body[24];
	memcpy(body, uuid, 16);
	put_u32(body + 16, TEEC_LOGIN_PUBLIC);
	put_u32(body + 20, 0); /* connection_data: only TEEC_LOGIN_GROUP carries one (§1.12) */
	struct param none[4] = {{0}};
	return call(c, OP_OPEN_SESSION, body, sizeof body, none, 1, origin, session);
}

static uint32_t invoke(struct conn *c, uint32_t session, uint32_t cmd, struct param p[4], uint32_t *origin)
{
	uint8_t body[8];
	put_u32(body, session);
	put_u32(body + 4, cmd);
	return call(c, OP_INVOKE, body, sizeof body, p, 1, origin, NULL);
}

static uint32_t close_session(struct conn *c, uint32_t session, uint32_t *origin)
{
	uint8_t body[4];
	put_u32(body, session);
	struct param none[4] = {{0}};
	return call(c, OP_CLOSE_SESSION, body, sizeof body, none, 0, origin, NULL);
}

/* ---- the demo ---- */

static int failures;

static void expect(int ok, const char *what)
{
	if (!ok) {
		printf("UNEXPECTED: %s\n", what);
		failures++;
	}
}

static uint32_t get_auth_token_key(struct conn *c, uint32_t s, const uint8_t recipient[16],
				   uint8_t *buf, uint32_t capacity, struct param p[4], uint32_t *origin)
{
	memset(p, 0, 4 * sizeof *p);
	p[0].type = TEEC_MEMREF_TEMP_INPUT;
	p[0].buf = (uint8_t *)recipient;
	p[0].size = 16;
	p[1].type = TEEC_MEMREF_TEMP_OUTPUT;
	p[1].buf = buf;
	p[1].size = capacity;
	return invoke(c, s, KM_GET_AUTH_TOKEN_KEY, p, origin);
}

static uint8_t *put_param(uint8_t *w, uint32_t tag, int has_value, uint32_t v)
{
	put_u32(w, tag);
	w += 4;
	if (has_value) {
		put_u32(w, v);
		w += 4;
	}
	return w;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s KEYMASTER_SOCKET\n", argv[0]);
		return 2;
	}
	struct sockaddr_un addr;
	memset(&addr, 0, sizeof addr);
	addr.sun_family = AF_UNIX;
	if (strlen(argv[1]) >= sizeof addr.sun_path) {
		fprintf(stderr, "socket path too long\n");
		return 2;
	}
	strcpy(addr.sun_path, argv[1]);
	struct conn c = {.fd = socket(AF_UNIX, SOCK_STREAM, 0), .next_request_id = 1};
	if (c.fd < 0 || connect(c.fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
		fprintf(stderr, "connect %s: %s\n", argv[1], strerror(errno));
		return 2;
	}

	uint8_t km_uuid[16], gk_uuid[16];
	if (parse_uuid(KEYMASTER_UUID, km_uuid) || parse_uuid(GATEKEEPER_UUID, gk_uuid))
		return 2;
	uint32_t origin = 0, session = 0, res;
	struct param p[4];

	/* 1. OPEN_SESSION */
	res = open_session(&c, km_uuid, &session, &origin);
	printf("open_session: result=0x%08x origin=%u session=%u\n", res, origin, session);
	expect(res == TEEC_SUCCESS && session != 0, "open_session");
	if (res != TEEC_SUCCESS)
		return 1;

	/* 2. GET_AUTH_TOKEN_KEY with a 16-byte buffer: SHORT_BUFFER + size. */
	uint8_t small[16];
	res = get_auth_token_key(&c, session, gk_uuid, small, sizeof small, p, &origin);
	uint32_t needed = p[1].size;
	printf("get_auth_token_key_short: result=0x%08x origin=%u needed=%u\n", res, origin, needed);
	expect(res == TEEC_ERROR_SHORT_BUFFER && origin == TEEC_ORIGIN_TRUSTED_APP && needed > 16,
	       "short buffer");

	/* 3. Retry with the size needed: the envelope (§4.2). */
	uint8_t *env = malloc(needed ? needed : 1);
	res = get_auth_token_key(&c, session, gk_uuid, env, needed, p, &origin);
	printf("get_auth_token_key: result=0x%08x origin=%u envelope_len=%u", res, origin, p[1].size);
	if (res == TEEC_SUCCESS && p[1].size >= 61) {
		char from[37], to[37];
		format_uuid(env + 1, from);
		format_uuid(env + 17, to);
		printf(" version=%u from=%s to=%s type=%u seq_nonzero=%d payload_len=%u",
		       env[0], from, to, get_u32(env + 33), get_u64(env + 37) != 0, get_u32(env + 57));
		expect(memcmp(env + 1, km_uuid, 16) == 0 && memcmp(env + 17, gk_uuid, 16) == 0,
		       "envelope route");
		expect(p[1].size == 77 + get_u32(env + 57), "envelope length");
	}
	printf("\n");
	expect(res == TEEC_SUCCESS && p[1].size == needed, "get_auth_token_key");
	free(env);

	/* 4. A recipient Keymaster has no route to: ACCESS_DENIED. */
	uint8_t denied[128];
	res = get_auth_token_key(&c, session, km_uuid, denied, sizeof denied, p, &origin);
	printf("get_auth_token_key_denied: result=0x%08x origin=%u envelope_len=%u\n", res, origin, p[1].size);
	expect(res == TEEC_ERROR_ACCESS_DENIED && p[1].size == 0, "access denied");

	/* 5. GENERATE_KEY: EC P-256, SIGN, SHA-256, NO_AUTH_REQUIRED (§2.3). */
	uint8_t kp[4 + 4 * 8 + 4], *w = kp;
	put_u32(w, 5);
	w += 4;
	w = put_param(w, KM_TAG_ALGORITHM, 1, KM_ALGORITHM_EC);
	w = put_param(w, KM_TAG_EC_CURVE, 1, KM_EC_CURVE_P_256);
	w = put_param(w, KM_TAG_PURPOSE, 1, KM_PURPOSE_SIGN);
	w = put_param(w, KM_TAG_DIGEST, 1, KM_DIGEST_SHA_2_256);
	w = put_param(w, KM_TAG_NO_AUTH_REQUIRED, 0, 0);
	uint8_t blob[512], pub[65];
	memset(p, 0, sizeof p);
	p[0] = (struct param){.type = TEEC_MEMREF_TEMP_INPUT, .buf = kp, .size = (uint32_t)(w - kp)};
	p[1] = (struct param){.type = TEEC_MEMREF_TEMP_OUTPUT, .buf = blob, .size = sizeof blob};
	p[2] = (struct param){.type = TEEC_MEMREF_TEMP_OUTPUT, .buf = pub, .size = sizeof pub};
	res = invoke(&c, session, KM_GENERATE_KEY, p, &origin);
	uint32_t blob_len = p[1].size, pub_len = p[2].size;
	printf("generate_key: result=0x%08x origin=%u blob_len=%u", res, origin, blob_len);
	if (res == TEEC_SUCCESS)
		print_hex("public_key", pub, pub_len);
	printf("\n");
	expect(res == TEEC_SUCCESS && pub_len == 65 && pub[0] == 0x04, "generate_key");

	/* 6. BEGIN (no HAT) + FINISH: sign a message. */
	static const char msg[] = "hello from C";
	memset(p, 0, sizeof p);
	p[0] = (struct param){.type = TEEC_MEMREF_TEMP_INPUT, .buf = blob, .size = blob_len};
	p[1] = (struct param){.type = TEEC_VALUE_INPUT, .a = KM_PURPOSE_SIGN};
	p[2] = (struct param){.type = TEEC_MEMREF_TEMP_INPUT, .size = 0}; /* no token */
	p[3] = (struct param){.type = TEEC_VALUE_OUTPUT};
	res = invoke(&c, session, KM_BEGIN, p, &origin);
	uint64_t handle = value_u64(&p[3]);
	printf("begin: result=0x%08x origin=%u handle_nonzero=%d\n", res, origin, handle != 0);
	expect(res == TEEC_SUCCESS && handle != 0, "begin");

	uint8_t sig[72];
	memset(p, 0, sizeof p);
	p[0] = value_input_u64(handle);
	p[1] = (struct param){.type = TEEC_MEMREF_TEMP_INPUT, .buf = (uint8_t *)msg, .size = sizeof msg - 1};
	p[2] = (struct param){.type = TEEC_MEMREF_TEMP_INPUT, .size = 0};
	p[3] = (struct param){.type = TEEC_MEMREF_TEMP_OUTPUT, .buf = sig, .size = sizeof sig};
	res = invoke(&c, session, KM_FINISH, p, &origin);
	printf("finish: result=0x%08x origin=%u signature_len=%u", res, origin, p[3].size);
	if (res == TEEC_SUCCESS) {
		print_hex("message", (const uint8_t *)msg, sizeof msg - 1);
		print_hex("signature", sig, p[3].size);
	}
	printf("\n");
	expect(res == TEEC_SUCCESS && p[3].size >= 8 && sig[0] == 0x30, "finish");

	/* 7. An unknown command id. */
	memset(p, 0, sizeof p);
	res = invoke(&c, session, 0x7777u, p, &origin);
	printf("unknown_command: result=0x%08x origin=%u\n", res, origin);
	expect(res == TEEC_ERROR_NOT_SUPPORTED && origin == TEEC_ORIGIN_TRUSTED_APP, "not supported");

	/* 8. CLOSE_SESSION */
	res = close_session(&c, session, &origin);
	printf("close_session: result=0x%08x origin=%u\n", res, origin);
	expect(res == TEEC_SUCCESS && origin == TEEC_ORIGIN_TEE, "close_session");

	close(c.fd);
	if (failures) {
		printf("failed: %d unexpected answers\n", failures);
		return 1;
	}
	printf("ok\n");
	return 0;
}
