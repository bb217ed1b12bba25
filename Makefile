# flexiroam-lua: build, test and tooling. Every target is idempotent and
# installs the Debian packages it needs when they are missing (as root).

LUA          ?= lua5.4
BUSTED       ?= /usr/bin/busted
CC           ?= cc
CFLAGS       ?= -O2 -g
WARNINGS     := -Wall -Wextra -Werror
CORE_CFLAGS   = -std=gnu99 -fPIC -fvisibility=hidden $(WARNINGS) $(CFLAGS)
# The libraries the core links (pkg-config names), and their link flags.
CORE_PKGS    := libcurl libqrencode libpng
CORE_LIBS     = $$(pkg-config --libs $(CORE_PKGS)) -lm

SOURCES      := $(sort $(wildcard src/*.c))
HEADERS      := $(wildcard src/*.h)
SPECS        ?= spec

BUILD_54     := build/5.4/flexiroam/core.so
BUILD_JIT    := build/luajit/flexiroam/core.so
BUILD_ASAN   := build/asan/flexiroam/core.so
BUILD_STATIC := build/static/libflexiroam_core.a
STATIC_OBJS  := $(patsubst src/%.c,build/static/obj/%.o,$(SOURCES))
BUILD_EMBED  := build/embed/embed

# The QR codes of the eSIM install kit (flexiroam.qr): encoder and PNG writer.
PKGS_QR      := libqrencode-dev libpng-dev
# The command line (bin/flexiroam): its argument parser. Its specs also use
# util-linux's `script` (a pseudo-terminal) and bash, both always in Debian.
PKGS_CLI     := lua-argparse
# PKGS_BASE is expanded where it is defined (:=), so what it names must be defined above it.
PKGS_BASE    := lua5.4 liblua5.4-dev lua-cjson lua-busted libcurl4-openssl-dev pkg-config \
                gcc make lua-socket openssl curl locales redis-server lua-redis $(PKGS_QR) $(PKGS_CLI)
# What the QR specs check with: a real scanner, an SVG rasteriser and a
# headless browser (the specs skip, saying which is missing, without them).
PKGS_SCAN    := zbar-tools librsvg2-bin chromium-headless-shell
# The shells whose completion the command line's specs drive (bash is always there).
PKGS_SHELLS  := zsh
PKGS_LUAJIT  := luajit2 libluajit2-5.1-dev
PKGS_ROCK    := luarocks
PKGS_FUZZ    := clang libclang-rt-14-dev
PKGS_LINT    := lua-check cppcheck
PKGS_CHECK   := valgrind
PKGS_BENCH   := nginx-light
PKGS_NGINX   := nginx-light libnginx-mod-http-lua
PKGS_LUAS    := lua5.3 liblua5.3-dev lua5.1 liblua5.1-0-dev

# Installs whichever of the named packages are missing; silent when none are.
define ensure_packages
@missing=""; for p in $(1); do \
  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || missing="$$missing $$p"; \
done; \
if [ -n "$$missing" ]; then \
  if [ "$$(id -u)" != 0 ]; then echo "missing Debian packages:$$missing (run: sudo apt-get install$$missing)" >&2; exit 1; fi; \
  echo "installing:$$missing"; \
  apt-get update -q >/dev/null && \
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $$missing >/dev/null || exit 1; \
fi
endef

# with_sandbox,OPTIONS,COMMANDS: runs the shell COMMANDS against a sandbox
# started with OPTIONS on a free port ($$url; FLEXIROAM_BASE_URL and
# FLEXIROAM_API_KEY are exported for them), and stops it afterwards.
define with_sandbox
@out=$$(mktemp); bin/flexiroam-sandbox --port 0 $(1) > "$$out" & pid=$$!; \
trap 'kill $$pid 2>/dev/null; rm -f "$$out"' EXIT; \
for i in $$(seq 100); do grep -q '^listening ' "$$out" && break; sleep 0.05; done; \
url=$$(sed -n 's/^listening //p' "$$out"); \
[ -n "$$url" ] || { echo "the sandbox did not start" >&2; exit 1; }; \
export FLEXIROAM_BASE_URL="$$url" FLEXIROAM_API_KEY=sandbox-key; \
$(2)
endef

# A decimal-comma locale of our own, so the specs that prove the codec
# ignores LC_NUMERIC run on every machine (they skip, saying so, without it).
LOCALE_DIR   := build/locale
SPEC_ENV      = LOCPATH=$(CURDIR)/$(LOCALE_DIR)

$(LOCALE_DIR)/de_DE.UTF-8:
	@mkdir -p $(LOCALE_DIR)
	@localedef -i de_DE -f UTF-8 $@ 2>/dev/null || echo "note: could not build the de_DE locale; locale specs will skip"

BUSTED_PATHS = --lpath='./lua/?.lua;./lua/?/init.lua' --cpath='./$(dir $(1))../?.so'

.PHONY: all build deps ci-deps builds test luajit rock rock-luajit static embed openresty asan valgrind lint fuzz \
        fuzz-smoke bench demo docs install cli-docs clean

all: build
build: $(BUILD_54)

deps:
	$(call ensure_packages,$(PKGS_BASE))

# Everything CI's targets use, up front, so no spec skips for want of nginx
# or LuaJIT just because its target had not run yet.
ci-deps: deps
	$(call ensure_packages,$(PKGS_LUAJIT) $(PKGS_ROCK) $(PKGS_NGINX) $(PKGS_LUAS) $(PKGS_LINT) $(PKGS_FUZZ) $(PKGS_SCAN) $(PKGS_SHELLS))

$(BUILD_54): $(SOURCES) $(HEADERS) Makefile
	@mkdir -p $(@D)
	$(CC) $(CORE_CFLAGS) $$(pkg-config --cflags lua5.4 $(CORE_PKGS)) -shared -o $@ $(SOURCES) $(CORE_LIBS)

$(BUILD_JIT): $(SOURCES) $(HEADERS) Makefile
	@mkdir -p $(@D)
	$(CC) $(CORE_CFLAGS) $$(pkg-config --cflags luajit $(CORE_PKGS)) -shared -o $@ $(SOURCES) $(CORE_LIBS)

$(BUILD_ASAN): $(SOURCES) $(HEADERS) Makefile
	@mkdir -p $(@D)
	$(CC) $(CORE_CFLAGS) -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	  $$(pkg-config --cflags lua5.4 $(CORE_PKGS)) -shared -o $@ $(SOURCES) $(CORE_LIBS)

# Every spec runs on a fresh machine: nginx with its Lua module (the nginx rows of the transport
# contract, the fleet specs) and LDoc (the reference manual's specs) are installed too.
test: deps
	$(call ensure_packages,$(PKGS_SCAN) $(PKGS_SHELLS) $(PKGS_NGINX) $(PKGS_DOCS))
	@$(MAKE) --no-print-directory build $(LOCALE_DIR)/de_DE.UTF-8
	@$(SPEC_ENV) .ci/busted $(LUA) $(call BUSTED_PATHS,$(BUILD_54)) $(SPECS)

# The whole suite under LuaJIT (numbers there are doubles: see README). The
# 5.4 build is made too: the sandbox the specs start is a Lua 5.4 program.
luajit: deps
	$(call ensure_packages,$(PKGS_LUAJIT))
	@$(MAKE) --no-print-directory build $(BUILD_JIT) $(LOCALE_DIR)/de_DE.UTF-8
	@$(SPEC_ENV) .ci/busted luajit $(call BUSTED_PATHS,$(BUILD_JIT)) $(SPECS)

# luarocks make of the rockspec into build/rock, offline, then a require from that tree.
rock: deps
	$(call ensure_packages,$(PKGS_ROCK))
	luarocks --lua-version=5.4 make --tree=build/rock --deps-mode=none rockspec/flexiroam-scm-1.rockspec
	eval "$$(luarocks --lua-version=5.4 path --tree=build/rock)" && cd /tmp && \
	  $(LUA) -e 'local f = require "flexiroam"; assert(f.json.decode("[1]")[1] == 1); assert(f.qr.encode("x"):png():sub(2, 4) == "PNG"); print("rock ok: flexiroam " .. f.VERSION .. " from " .. package.searchpath("flexiroam", package.path))'

# The SDK, its C core and the two commands, flexiroam and flexiroam-sandbox,
# installed by luarocks from the rockspec into PREFIX: modules under
# PREFIX/share/lua/5.4 and PREFIX/lib/lua/5.4, the commands in PREFIX/bin.
PREFIX ?= /usr/local
install: deps
	$(call ensure_packages,$(PKGS_ROCK) $(PKGS_CLI))
	luarocks --lua-version=5.4 make --tree=$(PREFIX) --deps-mode=none rockspec/flexiroam-scm-1.rockspec
	rm -rf src/*.o flexiroam
	@echo "installed: $(PREFIX)/bin/flexiroam, $(PREFIX)/bin/flexiroam-sandbox"

# The README's command-line session, run again for real against a sandbox
# (examples/cli_session.lua), and its exit status table.
cli-docs: deps
	@$(MAKE) --no-print-directory build
	$(LUA) examples/cli_session.lua --readme README.md

# The same rock for Lua 5.1/LuaJIT (OpenResty), into build/rock-luajit.
rock-luajit: deps
	$(call ensure_packages,$(PKGS_ROCK) $(PKGS_LUAJIT))
	luarocks --lua-version=5.1 make --tree=build/rock-luajit --deps-mode=none rockspec/flexiroam-scm-1.rockspec \
	  LUA_INCDIR=$$(pkg-config --variable=includedir luajit)
	rm -rf src/*.o flexiroam
	eval "$$(luarocks --lua-version=5.1 path --tree=build/rock-luajit)" && cd /tmp && \
	  luajit -e 'local f = require "flexiroam"; assert(f.json.decode("[1]")[1] == 1); assert(f.qr.encode("x"):png():sub(2, 4) == "PNG"); assert(require "flexiroam.transport.ngx"); print("rock ok: flexiroam " .. f.VERSION .. " under " .. jit.version .. " from " .. package.searchpath("flexiroam", package.path))'

# The C core as a static library, for hosts that link Lua in (examples/embed).
build/static/obj/%.o: src/%.c $(HEADERS) Makefile
	@mkdir -p $(@D)
	$(CC) $(CORE_CFLAGS) $$(pkg-config --cflags lua5.4 $(CORE_PKGS)) -c -o $@ $<

$(BUILD_STATIC): $(STATIC_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

static: deps
	@$(MAKE) --no-print-directory $(BUILD_STATIC)

$(BUILD_EMBED): examples/embed/main.c $(BUILD_STATIC)
	@mkdir -p $(@D)
	$(CC) -std=gnu99 $(WARNINGS) $(CFLAGS) -pthread $$(pkg-config --cflags lua5.4) -o $@ $< $(BUILD_STATIC) \
	  $$(pkg-config --libs lua5.4) $(CORE_LIBS)

# examples/embed/inventory.lua in the embedding host (4 states on 4 threads), against a sandbox.
embed: deps
	@$(MAKE) --no-print-directory build $(BUILD_EMBED)
	$(call with_sandbox,,LUA_PATH_5_4='./lua/?.lua;./lua/?/init.lua' $(BUILD_EMBED) --threads 4 examples/embed/inventory.lua)

# The nginx specs against a real nginx (installs it; `make test` skips them without it).
openresty: deps
	$(call ensure_packages,$(PKGS_LUAJIT) $(PKGS_NGINX))
	@$(MAKE) --no-print-directory build $(BUILD_JIT)
	@.ci/busted $(LUA) $(call BUSTED_PATHS,$(BUILD_54)) spec/openresty_spec.lua spec/transport_contract_spec.lua

# The core against PUC Lua 5.3 and 5.1 too (-Werror), each loaded by its own
# interpreter with the Lua layer: decode, encode and a client.
builds: deps
	$(call ensure_packages,$(PKGS_LUAS))
	@for v in 5.3 5.1; do \
	  mkdir -p build/$$v/flexiroam && \
	  $(CC) $(CORE_CFLAGS) $$(pkg-config --cflags lua$$v $(CORE_PKGS)) -shared -o build/$$v/flexiroam/core.so $(SOURCES) \
	    $(CORE_LIBS) && \
	  lua$$v -e "package.cpath = 'build/$$v/?.so;' .. package.cpath; package.path = 'lua/?.lua;lua/?/init.lua;' .. package.path; \
	    local f = require 'flexiroam'; local t = assert(f.json.decode('{\"sku\":4024081013108,\"a\":[]}')); \
	    assert(t.sku == 4024081013108 and f.json.encode(t, {sort_keys = true}) == '{\"a\":[],\"sku\":4024081013108}'); \
	    assert(f.new { api_key = 'k', base_url = 'http://127.0.0.1:1' }); print('builds ok: ' .. _VERSION)" || exit 1; \
	done

# Specs under AddressSanitizer + UndefinedBehaviorSanitizer (stock lua5.4 needs the runtimes preloaded).
asan: deps
	@$(MAKE) --no-print-directory $(BUILD_ASAN) $(LOCALE_DIR)/de_DE.UTF-8
	@$(SPEC_ENV) LD_PRELOAD="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so)" \
	  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  .ci/busted $(LUA) $(call BUSTED_PATHS,$(BUILD_ASAN)) $(SPECS)

valgrind: deps
	$(call ensure_packages,$(PKGS_CHECK))
	@$(MAKE) --no-print-directory build $(LOCALE_DIR)/de_DE.UTF-8
	@$(SPEC_ENV) FLEXIROAM_UNDER_VALGRIND=1 .ci/busted "valgrind -q --error-exitcode=99 --suppressions=.ci/valgrind.supp --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite $(LUA)" \
	  $(call BUSTED_PATHS,$(BUILD_54)) $(SPECS)

lint: deps
	$(call ensure_packages,$(PKGS_LINT))
	luacheck -q lua spec bench examples bin tools
	cppcheck -q --error-exitcode=1 --enable=warning,portability,performance --inline-suppr \
	  --suppress=missingIncludeSystem --suppress=missingInclude src fuzz

FUZZ_SECONDS ?= 60
fuzz: deps
	$(call ensure_packages,$(PKGS_FUZZ))
	@.ci/fuzz $(FUZZ_SECONDS)

# A few seconds of every fuzz target, for CI: a parser that crashes on its
# seeds or soon after is caught on every change.
fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=5

# ---- Release: the versioned rockspec, dist/ and its offline install, the
# reference manual and the editor types (issue 19). The version is written
# once, in src/version.h.
VERSION      := $(shell sed -n 's/^\#define FX_VERSION "\(.*\)"$$/\1/p' src/version.h)

PKGS_DOCS    := lua-ldoc

.PHONY: rockspec docs-deps docs-reference docs types dist dist-check

# rockspec/flexiroam-$(VERSION)-1.rockspec, made from the development rockspec (edit that one).
rockspec:
	$(LUA) tools/release_rockspec.lua

docs-deps:
	$(call ensure_packages,$(PKGS_DOCS))
ci-deps: docs-deps

# The reference manual, docs/reference/index.html: LDoc over config.ld's files
# and the operation methods generated from the operations table; any LDoc
# warning fails. Generated, not committed (.gitignore); dated by the last commit.
docs-reference: docs-deps
	@rm -rf docs/reference
	@$(LUA) tools/ldoc_operations.lua
	@SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct 2>/dev/null || date +%s) ldoc --fatalwarnings . >/dev/null
	@echo "wrote docs/reference/index.html"
docs: docs-reference

# dist/flexiroam-$(VERSION).tar.gz and dist/flexiroam-$(VERSION)-1.src.rock
# (tools/dist.sh says what they hold); DIST=dir writes them elsewhere.
DIST ?= dist
dist: docs-reference
	$(call ensure_packages,$(PKGS_ROCK))
	@sh tools/dist.sh $(DIST)

# The .src.rock installed offline by luarocks into clean temporary trees, for
# Lua 5.4 and for Lua 5.1/LuaJIT, then required and called against the
# installed sandbox (spec/dist_spec.lua's install half, which make test skips).
dist-check: deps
	$(call ensure_packages,$(PKGS_ROCK) $(PKGS_LUAJIT))
	@$(MAKE) --no-print-directory build dist
	@FLEXIROAM_DIST_INSTALL=1 .ci/busted $(LUA) $(call BUSTED_PATHS,$(BUILD_54)) spec/dist_spec.lua

# library/generated.lua: the editor types made from the operations table, the
# documented options and the error kinds (spec/types_spec.lua fails when stale).
types: build
	$(LUA) tools/types.lua

bench: deps
	$(call ensure_packages,$(PKGS_BENCH) $(PKGS_LUAJIT))
	@# The LuaJIT build too: qr_bench reports LuaJIT's figures beside Lua 5.4's.
	@$(MAKE) --no-print-directory build $(BUILD_JIT)
	@mkdir -p build/bench
	@# The API floor json_bench measures cjson against (bench/api_floor.c): bench-only, Lua 5.4.
	$(CC) -std=gnu99 $(WARNINGS) -O2 -fPIC -shared $$(pkg-config --cflags lua5.4) -o build/bench/api_floor.so \
	  bench/api_floor.c
	@# Each bench's output is kept in build/bench/NAME.out and shown; the README's tables are then
	@# regenerated from those files (bench/readme.lua), never typed by hand. machine.out first: which
	@# machine the tables come from.
	@$(LUA) bench/machine.lua > build/bench/machine.out && cat build/bench/machine.out
	@for b in bench/*_bench.lua; do n=$$(basename $$b .lua); echo "== $$b"; \
	  $(LUA) $$b > build/bench/$$n.out || { cat build/bench/$$n.out; exit 1; }; cat build/bench/$$n.out; done
	@# The same HTTP run with the client and nginx on one CPU: no idle CPU to wake per request.
	@if command -v taskset >/dev/null; then \
	  echo "== bench/http_bench.lua on one CPU (taskset -c 0)"; \
	  taskset -c 0 $(LUA) bench/http_bench.lua > build/bench/http_bench_one_cpu.out || exit 1; \
	  cat build/bench/http_bench_one_cpu.out; fi
	@$(LUA) bench/readme.lua README.md build/bench

# The quickstart against a sandbox on a free port, stopped afterwards.
demo: deps
	@$(MAKE) --no-print-directory build
	$(call with_sandbox,,echo "sandbox at $$url"; $(LUA) examples/quickstart.lua)

# The README's pictures, made by the SDK from a sandbox activation, never
# drawn by hand: the QR code examples/install_esim.lua saves for the first
# eSIM of a sandbox with seed 1 (spec/readme_images_spec.lua checks it).
README_QR := docs/images/esim-install-qr.png
docs: deps
	@$(MAKE) --no-print-directory build
	@mkdir -p $(dir $(README_QR))
	$(call with_sandbox,--seed 1,$(LUA) examples/install_esim.lua --png $(README_QR))

clean:
	rm -rf build
