/*
 * The protocol between the CNI shim and the node agent.
 *
 * The shim connects to the agent's unix stream socket, sends one request
 * frame and reads one response frame.  A frame is a 4-byte big-endian
 * length followed by that many bytes of JSON.
 *
 * Request (version 1):
 *     {"version": 1,
 *      "env": {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "...", ...},
 *      "stdin": "<the network configuration exactly as the runtime sent it>"}
 *
 * Response (version 1):
 *     {"version": 1, "code": 0, "output": {...CNI result...}}    success
 *     {"version": 1, "code": 0}                                  success, no output
 *     {"version": 1, "code": N, "output": {...CNI error...}}     failure
 *
 * The shim prints "output" (if any) on stdout and exits non-zero when
 * "code" is not 0.  An agent that does not know the request's version
 * answers with CNI error 1 naming the versions it speaks.
 */
#ifndef SLUICE_CNI_PROTO_H
#define SLUICE_CNI_PROTO_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define CNI_PROTO_VERSION 1
#define CNI_PROTO_DEFAULT_SOCKET "/run/sluice/cni.sock"

/* Largest frame either side accepts: a maximal config plus its JSON string
 * escaping and the environment. */
#define CNI_PROTO_MAX_FRAME (4 * 1024 * 1024)

/* Incremental frame decoder, for readers that get bytes in pieces. */
struct cni_frame_reader {
    uint8_t header[4];  /* Length prefix collected so far. */
    size_t header_len;  /* Bytes of 'header' filled. */
    char *body;         /* Body, NUL-terminated once complete. */
    size_t body_len;    /* Expected body size. */
    size_t body_filled; /* Bytes of 'body' filled. */
    size_t max_frame;   /* Largest body accepted. */
};

void cni_frame_reader_init(struct cni_frame_reader *, size_t max_frame);
void cni_frame_reader_destroy(struct cni_frame_reader *);

/* Feeds 'n' bytes at 'data' into 'reader'.  Stores in '*consumed' how many
 * bytes were used (the rest belong to a later frame).  Returns 0 when a
 * frame is complete (then cni_frame_reader_take() gets it), EAGAIN when more
 * bytes are needed, or EMSGSIZE when the frame exceeds the limit. */
int cni_frame_reader_feed(struct cni_frame_reader *reader, const void *data,
                          size_t n, size_t *consumed);

/* Takes the completed frame's body (NUL-terminated, caller frees) and its
 * length, and resets 'reader' for the next frame. */
char *cni_frame_reader_take(struct cni_frame_reader *reader, size_t *len);

/* Encodes 'body' as a frame.  Returns a malloc'd buffer of '*frame_len'
 * bytes, or NULL if 'body_len' exceeds CNI_PROTO_MAX_FRAME. */
uint8_t *cni_frame_encode(const char *body, size_t body_len,
                          size_t *frame_len);

/* Where a blocking exchange failed. */
enum frame_exchange_stage {
    FRAME_CONNECT, /* Could not connect (the server is not there). */
    FRAME_SEND,    /* Connected, but the request did not go out. */
    FRAME_RECEIVE, /* Sent, but no complete answer came back. */
};

/* Connects to the unix stream socket 'path', sends 'body_len' bytes of
 * 'body' as one frame and reads one frame back, all before 'timeout_ms'
 * have passed (a full listen backlog is retried until then).  Returns 0
 * with the answer (NUL-terminated, caller frees) in '*answer' and its
 * length in '*answer_len'.  Otherwise returns a positive errno value
 * (ETIMEDOUT when the time ran out, ECONNRESET when the server hung up
 * without answering, EMSGSIZE when the answer exceeds 'max_answer') and
 * stores the stage that failed in '*stage'. */
int frame_exchange(const char *path, const char *body, size_t body_len,
                   int timeout_ms, size_t max_answer, char **answer,
                   size_t *answer_len, enum frame_exchange_stage *stage);

/* Builds a version-1 response with 'code' and 'output' (which may be NULL;
 * the reference is stolen). */
json_t *cni_proto_response(int code, json_t *output);

#endif /* sluice/cni-proto.h */
