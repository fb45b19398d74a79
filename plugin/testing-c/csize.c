/*
 * Test plugin in C (not shipped): proves the C header and the Rust ABI agree.
 * (Kept outside plugin/testing/, whose subdirectories are all Cargo packages.)
 * CSIZE path: opens the file through the host, reads it in 4 KiB chunks at
 * explicit offsets, and replies "213 <bytes read> <stat size> <cwd>".
 * Misbehaviours the Rust wrapper cannot produce: CNONE returns OK without a
 * reply, CPRELIM replies 150 (refused: one final reply per request),
 * CINJECT puts CRLF and a fake reply line in its text, CLONG replies with
 * 10000 bytes of text.
 * Built by plugin/host/tests/plugins.rs with `cc -shared -fPIC`.
 */
#include <stdio.h>
#include <string.h>

#include "ftpsh_plugin.h"

#if UINTPTR_MAX == 0xffffffffffffffffu
_Static_assert(sizeof(ftpsh_plugin) == 56, "ftpsh_plugin layout");
_Static_assert(sizeof(ftpsh_verb) == 72, "ftpsh_verb layout");
_Static_assert(sizeof(ftpsh_request) == 72, "ftpsh_request layout");
_Static_assert(sizeof(ftpsh_host) == 88, "ftpsh_host layout");
_Static_assert(sizeof(ftpsh_stat) == 24, "ftpsh_stat layout");
#endif

static ftpsh_bytes str(const char *s) {
    ftpsh_bytes b = {(const uint8_t *)s, strlen(s)};
    return b;
}

static int32_t misbehave(const ftpsh_host *host, const ftpsh_request *req) {
    static char big[10001];
    switch (req->verb.ptr[1]) {
    case 'N': /* CNONE */
        return FTPSH_OK;
    case 'P': /* CPRELIM: returns what the host said about code 150 */
        return host->reply(host->ctx, 150, str("opening nothing"));
    case 'I': /* CINJECT */
        return host->reply(host->ctx, 213, str("a\r\n230 logged in as root\r\n"));
    default: /* CLONG */
        memset(big, 'x', sizeof big - 1);
        return host->reply(host->ctx, 200, str(big));
    }
}

static int32_t run(const ftpsh_host *host, const ftpsh_request *req) {
    char text[512];
    if (req->verb.len != 5 || memcmp(req->verb.ptr, "CSIZE", 5) != 0) {
        return misbehave(host, req);
    }
    if (req->arg.ptr == NULL) {
        return host->reply(host->ctx, 501, str("CSIZE needs a pathname"));
    }
    uint64_t handle = 0;
    ftpsh_stat st = {sizeof(ftpsh_stat), 0, 0, 0};
    int32_t rc = host->open(host->ctx, req->arg, FTPSH_OPEN_READ, &handle, &st);
    if (rc != FTPSH_OK) {
        snprintf(text, sizeof text, "%.*s: open failed (%d)", (int)req->arg.len,
                 (const char *)req->arg.ptr, (int)rc);
        host->reply(host->ctx, 550, str(text));
        return FTPSH_OK;
    }
    uint8_t buf[4096];
    uint64_t total = 0;
    for (;;) {
        size_t n = 0;
        rc = host->read(host->ctx, handle, total, buf, sizeof buf, &n);
        if (rc != FTPSH_OK) {
            host->close(host->ctx, handle);
            return FTPSH_ERR_FAILED;
        }
        if (n == 0) break;
        total += n;
    }
    host->close(host->ctx, handle);
    snprintf(text, sizeof text, "%llu %llu %.*s", (unsigned long long)total,
             (unsigned long long)st.size, (int)req->cwd.len, (const char *)req->cwd.ptr);
    return host->reply(host->ctx, 213, str(text));
}

#define B(s) {(const uint8_t *)(s), sizeof(s) - 1}

static const ftpsh_verb verbs[] = {
    {B("CSIZE"), B("CSIZE <SP> pathname"), B("size, counted in C"), {NULL, 0}, 'r', 1},
    {B("CNONE"), B("CNONE"), B("no reply"), {NULL, 0}, 0, 1},
    {B("CPRELIM"), B("CPRELIM"), B("a 1xx reply"), {NULL, 0}, 0, 1},
    {B("CINJECT"), B("CINJECT"), B("CRLF in a reply"), {NULL, 0}, 0, 0},
    {B("CLONG"), B("CLONG"), B("a long reply"), {NULL, 0}, 0, 1},
};

static const ftpsh_plugin table = {
    FTPSH_ABI_VERSION, sizeof(ftpsh_plugin), B("csize"), verbs, sizeof verbs / sizeof verbs[0], sizeof(ftpsh_verb), run,
};

const ftpsh_plugin *ftpsh_plugin_v1(void) { return &table; }
