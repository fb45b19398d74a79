/*
 * ftpsh_plugin.h - the ftpshd plugin ABI, version 1, for plugins written in C.
 *
 * This header mirrors ftpsh-plugin-api's `abi` module (plugin/api/src/abi.rs),
 * which is the reference; plugin/host/tests/plugins.rs compiles a C plugin
 * against it to keep the two in step. See plugin/README.md for the rules.
 *
 * Versioning: the major version is in the entry symbol's name. Structs only
 * ever grow by appending fields; readers check struct_size first.
 */
#ifndef FTPSH_PLUGIN_H
#define FTPSH_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#define FTPSH_ABI_VERSION 1u

/* Borrowed bytes; ptr == NULL means "absent". Copied by the receiver. */
typedef struct {
    const uint8_t *ptr;
    size_t len;
} ftpsh_bytes;

#define FTPSH_KIND_FILE 1u
#define FTPSH_KIND_DIR 2u
#define FTPSH_KIND_OTHER 3u

/* Filled by the host; the caller sets struct_size = sizeof(ftpsh_stat). */
typedef struct {
    uint32_t struct_size;
    uint32_t kind;
    uint64_t size;  /* bytes */
    int64_t mtime;  /* seconds since the Unix epoch */
} ftpsh_stat;

typedef struct {
    uint32_t struct_size;
    ftpsh_bytes verb; /* canonical, upper case */
    ftpsh_bytes arg;  /* NULL ptr: no argument */
    ftpsh_bytes cwd;  /* e.g. "/docs" */
    ftpsh_bytes user; /* NULL ptr: not logged in */
} ftpsh_request;

#define FTPSH_OPEN_READ 1u
#define FTPSH_OPEN_WRITE 2u

#define FTPSH_OK 0
#define FTPSH_ERR_NOT_FOUND (-1)
#define FTPSH_ERR_ACCESS_DENIED (-2)
#define FTPSH_ERR_IS_DIRECTORY (-3)
#define FTPSH_ERR_NOT_DIRECTORY (-4)
#define FTPSH_ERR_ALREADY_EXISTS (-5)
#define FTPSH_ERR_NO_SPACE (-6)
#define FTPSH_ERR_BAD_PATH (-7)
#define FTPSH_ERR_INVALID (-8)
#define FTPSH_ERR_NOT_LOGGED_IN (-9)
#define FTPSH_ERR_TOO_MANY_HANDLES (-10)
#define FTPSH_ERR_BUFFER_TOO_SMALL (-11)
#define FTPSH_ERR_IO (-12)
#define FTPSH_ERR_PANIC (-13)
#define FTPSH_ERR_FAILED (-14)

#define FTPSH_MAX_HANDLES 16
#define FTPSH_MAX_VERBS 64
#define FTPSH_MAX_TEXT 1024

/* Valid only during the run() call it is passed to. */
typedef struct {
    uint32_t abi_version;
    uint32_t struct_size;
    void *ctx;
    int32_t (*reply)(void *ctx, uint32_t code, ftpsh_bytes text);
    int32_t (*stat)(void *ctx, ftpsh_bytes path, ftpsh_stat *out);
    int32_t (*open)(void *ctx, ftpsh_bytes path, uint32_t mode, uint64_t *out_handle,
                    ftpsh_stat *out_stat);
    int32_t (*read)(void *ctx, uint64_t handle, uint64_t offset, uint8_t *buf, size_t cap,
                    size_t *out_len);
    int32_t (*write)(void *ctx, uint64_t handle, ftpsh_bytes data);
    int32_t (*commit)(void *ctx, uint64_t handle);
    int32_t (*close)(void *ctx, uint64_t handle);
    int32_t (*list_open)(void *ctx, ftpsh_bytes path, uint64_t *out_handle);
    int32_t (*list_next)(void *ctx, uint64_t handle, uint8_t *name_buf, size_t name_cap,
                         size_t *out_name_len, ftpsh_stat *out_stat);
} ftpsh_host;

typedef struct {
    ftpsh_bytes verb;   /* 1-16 ASCII letters */
    ftpsh_bytes syntax; /* "HASH <SP> pathname"; "SITE XECHO ..." makes a SITE sub-command */
    ftpsh_bytes help;   /* one line */
    ftpsh_bytes feat;   /* FEAT line, or NULL ptr */
    uint8_t permission; /* 'r', 'l', ... or 0 */
    uint8_t login;      /* 1: needs login */
} ftpsh_verb;

typedef int32_t (*ftpsh_run_fn)(const ftpsh_host *host, const ftpsh_request *request);

typedef struct {
    uint32_t abi_version; /* FTPSH_ABI_VERSION */
    uint32_t struct_size; /* sizeof(ftpsh_plugin) */
    ftpsh_bytes name;
    const ftpsh_verb *verbs;
    size_t verb_count;
    size_t verb_size;     /* sizeof(ftpsh_verb) */
    ftpsh_run_fn run;
} ftpsh_plugin;

/* Every plugin exports exactly this (the table must live forever):
 *     const ftpsh_plugin *ftpsh_plugin_v1(void);
 */

#endif
