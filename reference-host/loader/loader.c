/* loader.c - see loader.h. The only file of the host that includes dlfcn.h. */
#include "loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef DSTRAT_PLUGIN_INSTALL_DIR
#define DSTRAT_PLUGIN_INSTALL_DIR "/usr/local/lib/dstrat"
#endif

#define MAX_SEARCH_DIRS 64
#define MAX_OTHER_MAJOR 16 /* dstrat_entry_v2 .. v16 are probed to name a foreign major */

/* Sizes of the v1.0 structs: the smallest a plugin may hand us. */
#define ENTRY_V1_0_SIZE (offsetof(dstrat_entry_t, strategy_create) + sizeof(void *))
#define DESC_V1_0_SIZE \
    (offsetof(dstrat_strategy_desc_t, params) + sizeof(const dstrat_param_desc_t *))
#define PARAM_V1_0_SIZE (offsetof(dstrat_param_desc_t, help) + sizeof(const char *))
#define STRATEGY_V1_0_SIZE (offsetof(dstrat_strategy_t, observe) + sizeof(void *))

struct loader_lib {
    struct loader_lib *next;       /* registry list */
    uint32_t refs;
    void *so;
    char *path;                    /* canonical */
    const dstrat_entry_t *entry;
    uint32_t n_strategies;
    dstrat_strategy_desc_t *descs; /* host-layout copies */
    dstrat_param_desc_t **params;  /* [n_strategies] host-layout copies of each params array */
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct loader_lib *g_libs;

static void set_err(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t cap, const char *fmt, ...) {
    if (!err || cap == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------ search path */

typedef struct search_dirs {
    size_t n;
    char *dir[MAX_SEARCH_DIRS];
    const char *origin[MAX_SEARCH_DIRS]; /* why this dir is searched, for messages */
} search_dirs_t;

static void dirs_add(search_dirs_t *sd, const char *dir, size_t len, const char *origin) {
    if (len == 0 || sd->n >= MAX_SEARCH_DIRS) return;
    char *d = malloc(len + 1);
    if (!d) return;
    memcpy(d, dir, len);
    d[len] = '\0';
    sd->dir[sd->n] = d;
    sd->origin[sd->n] = origin;
    sd->n++;
}

static void dirs_free(search_dirs_t *sd) {
    for (size_t i = 0; i < sd->n; i++) free(sd->dir[i]);
    sd->n = 0;
}

static void dirs_build(search_dirs_t *sd, const char *const *dirs, size_t n_dirs) {
    sd->n = 0;
    for (size_t i = 0; dirs && i < n_dirs; i++)
        if (dirs[i]) dirs_add(sd, dirs[i], strlen(dirs[i]), "config");
    const char *env = getenv("DSTRAT_PATH");
    while (env && *env) {
        const char *colon = strchr(env, ':');
        size_t len = colon ? (size_t) (colon - env) : strlen(env);
        dirs_add(sd, env, len, "DSTRAT_PATH");
        env = colon ? colon + 1 : NULL;
    }
    dirs_add(sd, DSTRAT_PLUGIN_INSTALL_DIR, strlen(DSTRAT_PLUGIN_INSTALL_DIR), "install dir");
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            char rel[PATH_MAX + 32];
            *slash = '\0';
            int w = snprintf(rel, sizeof rel, "%s/../../plugin", exe);
            if (w > 0 && (size_t) w < sizeof rel) dirs_add(sd, rel, (size_t) w, "next to the executable");
        }
    }
}

static int is_regular_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_path(const char *name) { return strchr(name, '/') != NULL; }

/* "chain" -> "dstrat_chain.so"; "dstrat_chain" or "dstrat_chain.so" are taken as they are. */
static void file_name_for(const char *name, char *out, size_t cap, char *stem, size_t stem_cap) {
    size_t len = strlen(name);
    int has_so = len > 3 && !strcmp(name + len - 3, ".so");
    int has_prefix = !strncmp(name, "dstrat_", 7);
    snprintf(out, cap, "%s%s%s", has_prefix ? "" : "dstrat_", name, has_so ? "" : ".so");
    /* stem = the short name, used for the <dir>/<stem>/ build-tree layout */
    const char *s = has_prefix ? name + 7 : name;
    size_t sl = strlen(s) - (has_so ? 3 : 0);
    if (sl >= stem_cap) sl = stem_cap - 1;
    memcpy(stem, s, sl);
    stem[sl] = '\0';
}

int loader_resolve(const char *name, const char *const *dirs, size_t n_dirs, char *path,
                   size_t path_cap, char *err, size_t cap) {
    if (!name || !*name) {
        set_err(err, cap, "plugin: empty name");
        return -1;
    }
    if (is_path(name)) {
        struct stat st;
        if (stat(name, &st) != 0) {
            set_err(err, cap, "plugin %s: %s", name, strerror(errno));
            return -1;
        }
        if (!S_ISREG(st.st_mode)) {
            set_err(err, cap, "plugin %s: not a regular file", name);
            return -1;
        }
        if (strlen(name) >= path_cap) {
            set_err(err, cap, "plugin %s: path too long", name);
            return -1;
        }
        strcpy(path, name);
        return 0;
    }
    char file[NAME_MAX + 1], stem[NAME_MAX + 1];
    if (strlen(name) > NAME_MAX - 16) {
        set_err(err, cap, "plugin name '%.64s...' is too long", name);
        return -1;
    }
    file_name_for(name, file, sizeof file, stem, sizeof stem);
    search_dirs_t sd;
    dirs_build(&sd, dirs, n_dirs);
    for (size_t i = 0; i < sd.n; i++) {
        char cand[2][PATH_MAX];
        snprintf(cand[0], sizeof cand[0], "%s/%s", sd.dir[i], file);
        snprintf(cand[1], sizeof cand[1], "%s/%s/%s", sd.dir[i], stem, file);
        for (int k = 0; k < 2; k++) {
            if (is_regular_file(cand[k]) && strlen(cand[k]) < path_cap) {
                strcpy(path, cand[k]);
                dirs_free(&sd);
                return 0;
            }
        }
    }
    /* not found: list every dir searched */
    size_t used = 0;
    if (err && cap) {
        int w = snprintf(err, cap, "plugin '%s' not found: looked for %s and %s/%s in:", name, file,
                         stem, file);
        used = w > 0 ? (size_t) w : 0;
        for (size_t i = 0; i < sd.n && used < cap; i++) {
            w = snprintf(err + used, cap - used, "%s %s (%s)", i ? "," : "", sd.dir[i], sd.origin[i]);
            if (w < 0) break;
            used += (size_t) w;
        }
    }
    dirs_free(&sd);
    return -1;
}

/* ------------------------------------------------------------------ checking a plugin */

/* 1 if the file starts with the ELF magic. */
static int has_elf_magic(const char *path) {
    unsigned char m[4] = { 0 };
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(m, 1, 4, f);
    fclose(f);
    return n == 4 && m[0] == 0x7f && m[1] == 'E' && m[2] == 'L' && m[3] == 'F';
}

/* Copies count elements of `stride` bytes into host-layout elements of host_size bytes, so a
 * newer plugin's larger structs read as ours (extra tail dropped) and an exact one is unchanged. */
static void copy_strided(void *dst, const void *src, size_t count, size_t stride, size_t host_size) {
    size_t n = stride < host_size ? stride : host_size;
    for (size_t i = 0; i < count; i++) {
        memset((char *) dst + i * host_size, 0, host_size);
        memcpy((char *) dst + i * host_size, (const char *) src + i * stride, n);
    }
}

static void lib_free_copies(struct loader_lib *lib) {
    for (uint32_t i = 0; lib->params && i < lib->n_strategies; i++) free(lib->params[i]);
    free(lib->params);
    free(lib->descs);
    lib->params = NULL;
    lib->descs = NULL;
}

/* Validates each descriptor and builds the host-layout copies. */
static int lib_copy_descs(struct loader_lib *lib, char *err, size_t cap) {
    const dstrat_entry_t *e = lib->entry;
    uint32_t n = e->strategy_count();
    if (n == 0 || n > 4096) {
        set_err(err, cap, "plugin %s: strategy_count() = %u (expected 1..4096)", lib->path, n);
        return -1;
    }
    lib->descs = calloc(n, sizeof *lib->descs);
    lib->params = calloc(n, sizeof *lib->params);
    if (!lib->descs || !lib->params) goto nomem;
    lib->n_strategies = n;
    for (uint32_t i = 0; i < n; i++) {
        const dstrat_strategy_desc_t *d = e->strategy_desc(i);
        if (!d) {
            set_err(err, cap, "plugin %s: strategy_desc(%u) is NULL but strategy_count() = %u",
                    lib->path, i, n);
            return -1;
        }
        if (d->struct_size < DESC_V1_0_SIZE) {
            set_err(err, cap, "plugin %s: strategy #%u descriptor too small (%u bytes, ABI 1.0 needs %zu)",
                    lib->path, i, d->struct_size, (size_t) DESC_V1_0_SIZE);
            return -1;
        }
        if (!d->id || !*d->id) {
            set_err(err, cap, "plugin %s: strategy #%u has no id", lib->path, i);
            return -1;
        }
        if (!DSTRAT_VERSION_COMPATIBLE(d->abi_version)) {
            set_err(err, cap, "plugin %s: strategy '%s' was built for ABI %u.%u, this host speaks %u.x",
                    lib->path, d->id, d->abi_version.major, d->abi_version.minor, DSTRAT_ABI_MAJOR);
            return -1;
        }
        for (uint32_t j = 0; j < i; j++)
            if (!strcmp(lib->descs[j].id, d->id)) {
                set_err(err, cap, "plugin %s: strategy id '%s' appears twice", lib->path, d->id);
                return -1;
            }
        copy_strided(&lib->descs[i], d, 1, d->struct_size, sizeof *d);
        lib->descs[i].struct_size = d->struct_size < sizeof *d ? d->struct_size : (uint32_t) sizeof *d;
        if (d->n_params == 0) {
            lib->descs[i].params = NULL;
            continue;
        }
        if (!d->params || d->n_params > 4096) {
            set_err(err, cap, "plugin %s: strategy '%s' declares %u params but %s", lib->path, d->id,
                    d->n_params, d->params ? "that is too many" : "params is NULL");
            return -1;
        }
        /* the element stride is the plugin's sizeof, which it wrote into each struct_size */
        uint32_t stride = d->params[0].struct_size;
        if (stride < PARAM_V1_0_SIZE) {
            set_err(err, cap, "plugin %s: strategy '%s': parameter descriptor too small (%u bytes, ABI 1.0 needs %zu)",
                    lib->path, d->id, stride, (size_t) PARAM_V1_0_SIZE);
            return -1;
        }
        lib->params[i] = calloc(d->n_params, sizeof(dstrat_param_desc_t));
        if (!lib->params[i]) goto nomem;
        copy_strided(lib->params[i], d->params, d->n_params, stride, sizeof(dstrat_param_desc_t));
        for (uint32_t k = 0; k < d->n_params; k++) {
            dstrat_param_desc_t *p = &lib->params[i][k];
            if (p->struct_size != stride || !p->key) {
                set_err(err, cap, "plugin %s: strategy '%s': parameter #%u is malformed (struct_size %u, expected %u%s)",
                        lib->path, d->id, k, p->struct_size, stride, p->key ? "" : ", no key");
                return -1;
            }
            if (p->type > DSTRAT_PARAM_PATH) {
                set_err(err, cap, "plugin %s: strategy '%s': parameter '%s' has unknown type %u",
                        lib->path, d->id, p->key, p->type);
                return -1;
            }
            p->struct_size = (uint32_t) sizeof *p;
        }
        lib->descs[i].params = lib->params[i];
    }
    return 0;
nomem:
    set_err(err, cap, "plugin %s: out of memory", lib->path);
    return -1;
}

/* Names the ABI major of a .so that lacks dstrat_entry_v1, if it has another entry. */
static uint32_t other_major(void *so) {
    for (uint32_t m = 2; m <= MAX_OTHER_MAJOR; m++) {
        char sym[32];
        snprintf(sym, sizeof sym, "dstrat_entry_v%u", m);
        if (dlsym(so, sym)) return m;
    }
    if (dlsym(so, "dstrat_entry_v0")) return 0;
    return UINT32_MAX;
}

/* dlopen + every check; on success lib owns the handle and the plugin is init'ed. */
static int lib_load(struct loader_lib *lib, char *err, size_t cap) {
    const char *p = lib->path;
    if (!has_elf_magic(p)) {
        set_err(err, cap, "plugin %s: not a shared object (no ELF header)", p);
        return -1;
    }
    dlerror();
    lib->so = dlopen(p, RTLD_NOW | RTLD_LOCAL);
    if (!lib->so) {
        const char *de = dlerror();
        set_err(err, cap, "plugin %s: not a loadable shared object: %s", p, de ? de : "dlopen failed");
        return -1;
    }
    dstrat_entry_fn fn;
    void *sym = dlsym(lib->so, DSTRAT_ENTRY_SYMBOL);
    if (!sym) {
        uint32_t m = other_major(lib->so);
        if (m != UINT32_MAX)
            set_err(err, cap, "plugin %s: no symbol " DSTRAT_ENTRY_SYMBOL ": not a dstrat plugin or "
                    "built for another ABI major (it exports dstrat_entry_v%u: ABI major %u; this host "
                    "speaks major %u)", p, m, m, DSTRAT_ABI_MAJOR);
        else
            set_err(err, cap, "plugin %s: no symbol " DSTRAT_ENTRY_SYMBOL ": not a dstrat plugin or "
                    "built for another ABI major", p);
        goto fail;
    }
    memcpy(&fn, &sym, sizeof fn); /* object pointer -> function pointer without a cast warning */
    static const dstrat_version_t host_abi = DSTRAT_VERSION_INIT;
    const dstrat_entry_t *e = fn(&host_abi);
    if (!e) {
        set_err(err, cap, "plugin %s: " DSTRAT_ENTRY_SYMBOL " returned NULL: the plugin cannot serve "
                "this host (ABI %u.%u.%u)", p, DSTRAT_ABI_MAJOR, DSTRAT_ABI_MINOR, DSTRAT_ABI_PATCH);
        goto fail;
    }
    /* the version first (any major keeps struct_size + version at the front), then the size */
    if (e->struct_size >= offsetof(dstrat_entry_t, init) &&
        !DSTRAT_VERSION_COMPATIBLE(e->abi_version)) {
        set_err(err, cap, "plugin %s: built for ABI %u.%u.%u, this host speaks %u.x (major %u != %u)",
                p, e->abi_version.major, e->abi_version.minor, e->abi_version.patch,
                DSTRAT_ABI_MAJOR, e->abi_version.major, DSTRAT_ABI_MAJOR);
        goto fail;
    }
    if (e->struct_size < ENTRY_V1_0_SIZE) {
        set_err(err, cap, "plugin %s: entry struct too small (%u bytes, ABI 1.0 needs %zu)", p,
                e->struct_size, (size_t) ENTRY_V1_0_SIZE);
        goto fail;
    }
    const char *missing = !e->init ? "init" : !e->deinit ? "deinit"
                        : !e->strategy_count ? "strategy_count"
                        : !e->strategy_desc ? "strategy_desc"
                        : !e->strategy_create ? "strategy_create" : NULL;
    if (missing) {
        set_err(err, cap, "plugin %s: entry function %s is NULL", p, missing);
        goto fail;
    }
    dstrat_status_t st = e->init(p);
    if (st != DSTRAT_OK) {
        set_err(err, cap, "plugin %s: init failed with status %d", p, (int) st);
        goto fail;
    }
    lib->entry = e;
    if (lib_copy_descs(lib, err, cap) != 0) {
        e->deinit();
        lib->entry = NULL;
        lib_free_copies(lib);
        goto fail;
    }
    return 0;
fail:
    dlclose(lib->so);
    lib->so = NULL;
    return -1;
}

/* ------------------------------------------------------------------ open/close */

loader_lib_t *loader_open(const char *name, const char *const *dirs, size_t n_dirs, char *err,
                          size_t cap) {
    char found[PATH_MAX], canon[PATH_MAX];
    if (loader_resolve(name, dirs, n_dirs, found, sizeof found, err, cap) != 0) return NULL;
    if (!realpath(found, canon)) {
        set_err(err, cap, "plugin %s: %s", found, strerror(errno));
        return NULL;
    }
    pthread_mutex_lock(&g_lock);
    for (struct loader_lib *l = g_libs; l; l = l->next)
        if (!strcmp(l->path, canon)) {
            l->refs++;
            pthread_mutex_unlock(&g_lock);
            return l;
        }
    struct loader_lib *lib = calloc(1, sizeof *lib);
    if (lib) lib->path = strdup(canon);
    if (!lib || !lib->path) {
        free(lib);
        pthread_mutex_unlock(&g_lock);
        set_err(err, cap, "plugin %s: out of memory", canon);
        return NULL;
    }
    if (lib_load(lib, err, cap) != 0) {
        free(lib->path);
        free(lib);
        pthread_mutex_unlock(&g_lock);
        return NULL;
    }
    lib->refs = 1;
    lib->next = g_libs;
    g_libs = lib;
    pthread_mutex_unlock(&g_lock);
    return lib;
}

void loader_close(loader_lib_t *lib) {
    if (!lib) return;
    pthread_mutex_lock(&g_lock);
    if (--lib->refs > 0) {
        pthread_mutex_unlock(&g_lock);
        return;
    }
    for (struct loader_lib **pp = &g_libs; *pp; pp = &(*pp)->next)
        if (*pp == lib) {
            *pp = lib->next;
            break;
        }
    /* under the lock: init and deinit of one .so must never run concurrently */
    lib->entry->deinit();
    dlclose(lib->so);
    pthread_mutex_unlock(&g_lock);
    lib_free_copies(lib);
    free(lib->path);
    free(lib);
}

const char *loader_path(const loader_lib_t *lib) { return lib ? lib->path : NULL; }
uint32_t loader_refcount(const loader_lib_t *lib) { return lib ? lib->refs : 0; }
const dstrat_entry_t *loader_entry(const loader_lib_t *lib) { return lib ? lib->entry : NULL; }
uint32_t loader_strategy_count(const loader_lib_t *lib) { return lib ? lib->n_strategies : 0; }

const dstrat_strategy_desc_t *loader_strategy_desc(const loader_lib_t *lib, uint32_t index) {
    if (!lib || index >= lib->n_strategies) return NULL;
    return &lib->descs[index];
}

const dstrat_strategy_desc_t *loader_find(const loader_lib_t *lib, const char *id, char *err,
                                          size_t cap) {
    if (!lib) {
        set_err(err, cap, "no plugin");
        return NULL;
    }
    if (!id) return &lib->descs[0];
    for (uint32_t i = 0; i < lib->n_strategies; i++)
        if (!strcmp(lib->descs[i].id, id)) return &lib->descs[i];
    if (err && cap) {
        int w = snprintf(err, cap, "plugin %s: no strategy '%s' (it has:", lib->path, id);
        size_t used = w > 0 ? (size_t) w : 0;
        for (uint32_t i = 0; i < lib->n_strategies && used < cap; i++) {
            w = snprintf(err + used, cap - used, "%s %s", i ? "," : "", lib->descs[i].id);
            if (w < 0) break;
            used += (size_t) w;
        }
        if (used < cap) snprintf(err + used, cap - used, ")");
    }
    return NULL;
}

dstrat_status_t loader_create(loader_lib_t *lib, const char *id, const dstrat_host_t *host,
                              const dstrat_param_t *params, uint32_t n_params,
                              dstrat_strategy_t **out, char *err, size_t cap) {
    if (!out || !host) {
        set_err(err, cap, "loader_create: NULL %s", out ? "host" : "out");
        return DSTRAT_E_INVALID_ARG;
    }
    *out = NULL;
    const dstrat_strategy_desc_t *d = loader_find(lib, id, err, cap);
    if (!d) return DSTRAT_E_NOT_FOUND;
    char perr[512] = "";
    dstrat_strategy_t *s = NULL;
    dstrat_status_t st = lib->entry->strategy_create(d->id, host, params, n_params, &s, perr,
                                                     sizeof perr);
    perr[sizeof perr - 1] = '\0';
    if (st != DSTRAT_OK) {
        set_err(err, cap, "plugin %s: strategy '%s': %s (status %d)", lib->path, d->id,
                perr[0] ? perr : "strategy_create failed", (int) st);
        return st < 0 ? st : DSTRAT_E_GENERIC;
    }
    const char *bad = !s ? "returned no strategy"
                    : s->struct_size < STRATEGY_V1_0_SIZE ? "returned a strategy struct that is too small"
                    : (!s->destroy || !s->last_error || !s->session_create || !s->session_destroy ||
                       !s->session_reset || !s->propose || !s->accept)
                          ? "returned a strategy with a NULL required function"
                          : NULL;
    if (bad) {
        if (s && s->struct_size >= offsetof(dstrat_strategy_t, destroy) + sizeof(void *) && s->destroy)
            s->destroy(s);
        set_err(err, cap, "plugin %s: strategy '%s': strategy_create %s", lib->path, d->id, bad);
        return DSTRAT_E_GENERIC;
    }
    *out = s;
    return DSTRAT_OK;
}

/* ------------------------------------------------------------------ listing */

static int list_add(loader_found_t **out, int *n, int *cap, const char *name, const char *path) {
    for (int i = 0; i < *n; i++)
        if (!strcmp((*out)[i].name, name)) return 0; /* the first dir wins, as for lookups */
    if (*n == *cap) {
        int nc = *cap ? *cap * 2 : 8;
        loader_found_t *g = realloc(*out, (size_t) nc * sizeof *g);
        if (!g) return -1;
        *out = g;
        *cap = nc;
    }
    char *nm = strdup(name), *pt = strdup(path);
    if (!nm || !pt) {
        free(nm);
        free(pt);
        return -1;
    }
    (*out)[*n].name = nm;
    (*out)[*n].path = pt;
    (*n)++;
    return 0;
}

/* name of a dstrat_<name>.so file, or 0 */
static int plugin_name_of(const char *file, char *name, size_t cap) {
    size_t len = strlen(file);
    if (len <= 10 || strncmp(file, "dstrat_", 7) || strcmp(file + len - 3, ".so")) return 0;
    size_t nl = len - 10;
    if (nl >= cap) return 0;
    memcpy(name, file + 7, nl);
    name[nl] = '\0';
    return 1;
}

static int list_dir(const char *dir, int depth, loader_found_t **out, int *n, int *cap) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    /* collect sorted names so the listing is stable */
    char **names = NULL;
    size_t nn = 0, nc = 0;
    int rc = 0;
    for (struct dirent *de; (de = readdir(d));) {
        if (de->d_name[0] == '.') continue;
        if (nn == nc) {
            size_t c2 = nc ? nc * 2 : 16;
            char **g = realloc(names, c2 * sizeof *g);
            if (!g) { rc = -1; break; }
            names = g;
            nc = c2;
        }
        if (!(names[nn] = strdup(de->d_name))) { rc = -1; break; }
        nn++;
    }
    closedir(d);
    for (size_t i = 1; i < nn; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    for (size_t i = 0; rc == 0 && i < nn; i++) {
        char path[PATH_MAX], name[NAME_MAX + 1];
        int w = snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (w < 0 || (size_t) w >= sizeof path) continue;
        struct stat st;
        if (stat(path, &st) != 0) continue;
        if (S_ISREG(st.st_mode) && plugin_name_of(names[i], name, sizeof name))
            rc = list_add(out, n, cap, name, path);
        else if (S_ISDIR(st.st_mode) && depth == 0)
            rc = list_dir(path, 1, out, n, cap);
    }
    for (size_t i = 0; i < nn; i++) free(names[i]);
    free(names);
    return rc;
}

int loader_list(const char *const *dirs, size_t n_dirs, loader_found_t **out) {
    *out = NULL;
    search_dirs_t sd;
    dirs_build(&sd, dirs, n_dirs);
    int n = 0, cap = 0, rc = 0;
    for (size_t i = 0; rc == 0 && i < sd.n; i++) rc = list_dir(sd.dir[i], 0, out, &n, &cap);
    dirs_free(&sd);
    if (rc != 0) {
        loader_list_free(*out, n);
        *out = NULL;
        return -1;
    }
    return n;
}

void loader_list_free(loader_found_t *found, int n) {
    for (int i = 0; found && i < n; i++) {
        free(found[i].name);
        free(found[i].path);
    }
    free(found);
}
