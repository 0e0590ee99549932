#include <sluice-config.h>

#include "sluice/cni-proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void
cni_frame_reader_init(struct cni_frame_reader *reader, size_t max_frame)
{
    memset(reader, 0, sizeof *reader);
    reader->max_frame = max_frame;
}

void
cni_frame_reader_destroy(struct cni_frame_reader *reader)
{
    free(reader->body);
    reader->body = NULL;
}

int
cni_frame_reader_feed(struct cni_frame_reader *reader, const void *data,
                      size_t n, size_t *consumed)
{
    const uint8_t *p = data;
    size_t used = 0;

    while (reader->header_len < 4 && used < n) {
        reader->header[reader->header_len++] = p[used++];
    }
    if (reader->header_len < 4) {
        *consumed = used;
        return EAGAIN;
    }
    if (!reader->body) {
        uint32_t len = ((uint32_t) reader->header[0] << 24)
                       | ((uint32_t) reader->header[1] << 16)
                       | ((uint32_t) reader->header[2] << 8)
                       | reader->header[3];
        if (len > reader->max_frame) {
            *consumed = used;
            return EMSGSIZE;
        }
        reader->body = malloc((size_t) len + 1);
        if (!reader->body) {
            *consumed = used;
            return ENOMEM;
        }
        reader->body_len = len;
        reader->body_filled = 0;
    }

    size_t want = reader->body_len - reader->body_filled;
    size_t take = n - used < want ? n - used : want;
    memcpy(reader->body + reader->body_filled, p + used, take);
    reader->body_filled += take;
    used += take;
    *consumed = used;
    if (reader->body_filled < reader->body_len) {
        return EAGAIN;
    }
    reader->body[reader->body_len] = '\0';
    return 0;
}

char *
cni_frame_reader_take(struct cni_frame_reader *reader, size_t *len)
{
    char *body = reader->body;
    *len = reader->body_len;
    size_t max_frame = reader->max_frame;
    cni_frame_reader_init(reader, max_frame);
    return body;
}

uint8_t *
cni_frame_encode(const char *body, size_t body_len, size_t *frame_len)
{
    if (body_len > CNI_PROTO_MAX_FRAME) {
        return NULL;
    }
    uint8_t *frame = malloc(body_len + 4);
    if (!frame) {
        return NULL;
    }
    frame[0] = body_len >> 24;
    frame[1] = body_len >> 16;
    frame[2] = body_len >> 8;
    frame[3] = body_len;
    memcpy(frame + 4, body, body_len);
    *frame_len = body_len + 4;
    return frame;
}

json_t *
cni_proto_response(int code, json_t *output)
{
    json_t *response = json_pack("{s:i, s:i}", "version", CNI_PROTO_VERSION,
                                 "code", code);
    if (response && output && json_object_set(response, "output", output)) {
        json_decref(response);
        response = NULL;
    }
    json_decref(output);
    return response;
}
