# ckptdoc - Makefile. `make` builds build/ckptdoc; `make check` runs every Check suite twice,
# a plain build and an ASan+UBSan build; `make demo` installs what is missing, builds and runs
# the main job on a bundled fixture. `make V=1` shows the commands.

CC        ?= gcc
BUILD     ?= build
SAN       ?= 0
PREFIX    ?= /usr/local
DESTDIR   ?=
CUDA_HOME ?= /usr/local/cuda
NVCC      ?= $(firstword $(wildcard $(CUDA_HOME)/bin/nvcc) $(shell command -v nvcc 2>/dev/null))
FUZZ_TIME ?= 60

ifeq ($(V),1)
Q :=
else
Q := @
endif

CPPFLAGS += -I.
CFLAGS   := -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -MMD -MP
CURSES_LIBS := $(shell pkg-config --libs ncurses 2>/dev/null || echo -lncurses)
CJSON_LIBS := $(shell pkg-config --libs libcjson 2>/dev/null || echo -lcjson)
CPPFLAGS += $(shell pkg-config --cflags libcjson 2>/dev/null)
LDLIBS   := $(CJSON_LIBS) $(CURSES_LIBS) -lpthread -lm -ldl
CHECKLIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm -lpthread)
# libcurl reads from the Hub (inspect/hub.c); without it the build works and says so at run time
# (its headers at build time; the library itself is opened when the Hub is first read)
ifneq ($(shell pkg-config --exists libcurl 2>/dev/null && echo yes),)
CPPFLAGS += -DHAVE_CURL $(shell pkg-config --cflags libcurl)
endif
# OpenBLAS does the CPU forward's matrix products (kernels/blas_cpu.c): its header at build
# time, the library opened when check first multiplies; without it the C reference does them
ifneq ($(shell pkg-config --exists openblas 2>/dev/null && echo yes),)
CPPFLAGS += -DHAVE_OPENBLAS $(shell pkg-config --cflags openblas)
endif
# Open MPI runs check with one process per rank (loader/comm.c): its header at build time, the
# library opened only in a process an MPI launcher started; without it the build works and says so
ifneq ($(shell pkg-config --exists ompi-c 2>/dev/null && echo yes),)
CPPFLAGS += -DHAVE_MPI $(shell pkg-config --cflags ompi-c)
endif
ifeq ($(SAN),1)
CFLAGS   += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=address,undefined
endif

BASE_SRC := base/ckerr.c base/fileio.c base/thread.c base/dtype.c base/finding.c base/strmap.c base/jscan.c \
            base/text.c
LIB_SRC := $(BASE_SRC) \
           inspect/st.c inspect/sniff.c inspect/config.c inspect/ckpt.c inspect/verify.c inspect/hfcache.c \
           inspect/hub.c \
           tui/tree.c tui/tstats.c tui/tui_state.c tui/tui.c \
           rules/expr.c rules/pattern.c rules/rules.c rules/builtin.c \
           loader/plan.c loader/shard.c loader/simulate.c loader/keyorder.c loader/keymap.c loader/stages.c loader/load.c loader/forward.c loader/comm.c \
           kernels/convert_ref.c kernels/dequant_ref.c kernels/ops_ref.c kernels/blas_cpu.c
CLI_SRC := cli/main.c cli/run.c cli/out.c cli/options.c cli/session.c cli/cmd_inspect.c cli/cmd_lint.c cli/cmd_explain.c cli/cmd_tui.c cli/cmd_check.c
TESTS   := check_base check_st check_inspect check_rules check_loader check_load check_kernels check_tui check_cli check_oracle

ifneq ($(NVCC),)
HAVE_CUDA := 1
NVFLAGS   := -O2 -std=c++17 $(CPPFLAGS) -Xcompiler -Wall,-Wextra,-Werror,-fno-exceptions,-fno-threadsafe-statics \
             -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
             -gencode arch=compute_90,code=compute_90
CUDA_OBJ  := $(BUILD)/obj/kernels/convert.cu.o $(BUILD)/obj/kernels/dequant.cu.o $(BUILD)/obj/kernels/devmem.cu.o \
             $(BUILD)/obj/kernels/ops.cu.o
# the CUDA runtime linked in statically: a CUDA build still runs inspect and lint (and says why
# there is no device) on a machine without it; cuBLAS is opened at run time
LDLIBS    += -L$(CUDA_HOME)/lib64 -lcudart_static -lrt -ldl
else
HAVE_CUDA := 0
CUDA_OBJ  := $(BUILD)/obj/kernels/convert_stub.o $(BUILD)/obj/kernels/devmem_stub.o
endif

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/rules/builtin_data.o $(CUDA_OBJ)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/cli/catalogue.o
BIN     := $(BUILD)/ckptdoc

.SECONDARY:
.PHONY: all check test-run golden sweep bench fuzz fuzz-st_header fuzz-rules fuzz-folder fuzz-lint fuzz-quant fuzz-explain fuzz-cli install uninstall clean deps demo fixtures oracle sarif
all: $(BIN)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

# the built-in rules files, embedded with .incbin (run from the repository root); the list is
# written from the folder, so a new family is a new JSON file and nothing else
BUILTIN_JSON := $(sort $(wildcard rules/builtin/*.json))
# (written while make reads this file, and only when the list changed, so that adding or
# removing a file rebuilds the embedding and nothing else)
BUILTIN_LIST := $(shell mkdir -p $(BUILD)/gen && i=0; for f in $(BUILTIN_JSON); do \
    echo "RULE($$i, \"$$(basename $$f .json)\", \"$$f\")"; i=$$((i+1)); done > $(BUILD)/gen/builtin_list.tmp; \
    cmp -s $(BUILD)/gen/builtin_list.tmp $(BUILD)/gen/builtin_list.inc && rm -f $(BUILD)/gen/builtin_list.tmp \
    || mv $(BUILD)/gen/builtin_list.tmp $(BUILD)/gen/builtin_list.inc)

$(BUILD)/obj/rules/builtin_data.o: rules/builtin.S $(BUILD)/gen/builtin_list.inc $(BUILTIN_JSON)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AS      $<")
	$(Q)$(CC) -I$(BUILD)/gen -c $< -o $@

# the catalogue of finding codes (docs/findings.md) for `ckptdoc explain CODE`
$(BUILD)/obj/cli/catalogue.o: cli/catalogue.S docs/findings.md
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AS      $<")
	$(Q)$(CC) -c $< -o $@

# CUDA objects: rebuilt when their headers or the flags (this Makefile) change
$(BUILD)/obj/kernels/%.cu.o: kernels/%.cu kernels/%.h kernels/cuda_check.h base/ckerr.h Makefile
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  NVCC    $<")
	$(Q)$(NVCC) $(NVFLAGS) $(NVDEFS) -c $< -o $@

$(BUILD)/obj/kernels/convert.cu.o: kernels/dtype_conv.h base/dtype.h
$(BUILD)/obj/kernels/dequant.cu.o: kernels/dequant_elem.h kernels/dtype_conv.h base/dtype.h
$(BUILD)/obj/kernels/ops.cu.o: NVDEFS := -DCK_CUDA_LIBDIR='"$(CUDA_HOME)/lib64"'

$(BIN): $(CLI_OBJ) $(LIB_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%: $(BUILD)/obj/tests/%.o $(BUILD)/obj/tests/suiteutil.o $(BUILD)/obj/tests/testutil.o $(BUILD)/obj/tests/httpd.o $(LIB_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(CHECKLIBS) $(LDLIBS)

# make bench's Hub-layout server (the tests' HTTP server with a main)
$(BUILD)/bench_hubd: bench/hubd.c tests/httpd.c tests/httpd.h
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ bench/hubd.c tests/httpd.c -lpthread

# the oracle suite opens checkpoints as the commands do
$(BUILD)/check_oracle: $(BUILD)/obj/cli/session.o $(BUILD)/obj/cli/options.o

$(BUILD)/fuzz_replay: $(BUILD)/obj/tests/fuzz_st_header.o $(BUILD)/obj/tests/fuzz_replay.o $(BUILD)/obj/tests/testutil.o $(LIB_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/fuzz_replay_folder: $(BUILD)/obj/tests/fuzz_folder.o $(BUILD)/obj/tests/fuzz_replay.o $(BUILD)/obj/tests/testutil.o $(LIB_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/fuzz_replay_lint: $(BUILD)/obj/tests/fuzz_lint.o $(BUILD)/obj/tests/fuzz_replay.o $(BUILD)/obj/tests/testutil.o $(LIB_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/fuzz_replay_quant: $(BUILD)/obj/tests/fuzz_quant.o $(BUILD)/obj/tests/fuzz_replay.o $(BUILD)/obj/tests/testutil.o $(LIB_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/fuzz_replay_rules: $(BUILD)/obj/tests/fuzz_rules.o $(BUILD)/obj/tests/fuzz_replay.o $(BUILD)/obj/tests/testutil.o $(LIB_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/fuzz_replay_explain $(BUILD)/fuzz_replay_cli: $(BUILD)/fuzz_replay_%: $(BUILD)/obj/tests/fuzz_%.o \
        $(BUILD)/obj/tests/fuzz_replay.o $(BUILD)/obj/tests/testutil.o $(filter-out $(BUILD)/obj/cli/main.o,$(CLI_OBJ)) $(LIB_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Runs the suites of one build (BUILD, SAN) from the repository root.
test-run: $(BIN) $(TESTS:%=$(BUILD)/%) $(BUILD)/fuzz_replay $(BUILD)/fuzz_replay_rules $(BUILD)/fuzz_replay_folder \
          $(BUILD)/fuzz_replay_lint $(BUILD)/fuzz_replay_explain $(BUILD)/fuzz_replay_cli $(BUILD)/fuzz_replay_quant
	@for t in $(TESTS); do echo "== $(BUILD)/$$t"; CKPTDOC_BIN=$(BIN) ./$(BUILD)/$$t || exit 1; done
	@echo "== $(BUILD)/fuzz_replay fixtures/fuzz-corpus"
	$(Q)./$(BUILD)/fuzz_replay fixtures/fuzz-corpus fixtures/malformed
	@echo "== $(BUILD)/fuzz_replay_rules fixtures/fuzz-rules"
	$(Q)./$(BUILD)/fuzz_replay_rules fixtures/fuzz-rules
	@echo "== $(BUILD)/fuzz_replay_lint fixtures/fuzz-lint"
	$(Q)./$(BUILD)/fuzz_replay_lint fixtures/fuzz-lint
	@echo "== $(BUILD)/fuzz_replay_quant fixtures/fuzz-quant"
	$(Q)./$(BUILD)/fuzz_replay_quant fixtures/fuzz-quant
	@echo "== $(BUILD)/fuzz_replay_folder fixtures/fuzz-folder"
	$(Q)./$(BUILD)/fuzz_replay_folder fixtures/fuzz-folder
	@echo "== $(BUILD)/fuzz_replay_explain fixtures/fuzz-explain"
	$(Q)./$(BUILD)/fuzz_replay_explain fixtures/fuzz-explain
	@echo "== $(BUILD)/fuzz_replay_cli fixtures/fuzz-cli"
	$(Q)./$(BUILD)/fuzz_replay_cli fixtures/fuzz-cli

# The README's test command: plain build, then ASan+UBSan build.
check: deps
	$(Q)$(MAKE) --no-print-directory BUILD=build SAN=0 test-run
	$(Q)ASAN_OPTIONS=protect_shadow_gap=0:detect_leaks=1:abort_on_error=0 \
	    LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    $(MAKE) --no-print-directory BUILD=build/asan SAN=1 test-run
	@echo "make check: all suites passed (plain and ASan+UBSan)"

# Rewrites the CLI golden files (tests/golden/out) from this build's output; review the diff.
golden: $(BIN) $(BUILD)/check_cli
	$(Q)CKPTDOC_GOLDEN_WRITE=1 CKPTDOC_BIN=$(BIN) ./$(BUILD)/check_cli
	@git status --short tests/golden/out | head -20

# Records a hash of every command's output over every fixture, rules choice and layout (and the
# full-scale layouts `make bench` writes) in SWEEP_OUT; two builds whose sweeps `diff -r` finds
# equal behave the same. A refactor records one before and one after.
SWEEP_OUT ?= $(BUILD)/sweep
sweep: $(BIN)
	$(Q)bash tests/golden/sweep.sh $(BIN) $(SWEEP_OUT)

bench: deps $(BIN) $(BUILD)/bench_hubd
	$(Q)bash bench/bench_inspect.sh $(BIN)

# libFuzzer targets (clang), each run FUZZ_TIME seconds from its committed corpus
# (fixtures/fuzz-*); new inputs land in build/fuzz-*. FUZZ_TARGETS picks some:
# make fuzz FUZZ_TARGETS="lint cli" FUZZ_TIME=3600.
FUZZ_TARGETS ?= st_header rules folder lint quant explain cli
FUZZ_CC := clang -std=c11 -D_GNU_SOURCE $(CPPFLAGS) -g -O1 -fsanitize=fuzzer,address,undefined
FUZZ_RUN = ./$(BUILD)/fuzz_$(1) -max_total_time=$(FUZZ_TIME) -rss_limit_mb=$(2) -timeout=$(3) $(BUILD)/fuzz-$(4) fixtures/fuzz-$(4)
FUZZ_CLI_SRC := $(filter-out cli/main.c,$(CLI_SRC)) cli/catalogue.S $(LIB_SRC) kernels/convert_stub.c \
                kernels/devmem_stub.c -I$(BUILD)/gen rules/builtin.S $(CJSON_LIBS) $(CURSES_LIBS) -lpthread -lm -ldl
fuzz: deps
	@command -v clang >/dev/null || { echo "make fuzz needs clang: apt-get install clang"; exit 2; }
	$(Q)for t in $(FUZZ_TARGETS); do $(MAKE) --no-print-directory fuzz-$$t || exit 1; done

fuzz-st_header: # the safetensors header parser; corpus fixtures/fuzz-corpus
	@mkdir -p $(BUILD)/fuzz-corpus
	$(Q)$(FUZZ_CC) -o $(BUILD)/fuzz_st_header tests/fuzz_st_header.c inspect/st.c inspect/sniff.c $(BASE_SRC)
	$(Q)$(call FUZZ_RUN,st_header,1024,5,corpus)
fuzz-rules: # a rules file read and checked
	@mkdir -p $(BUILD)/fuzz-rules
	$(Q)$(FUZZ_CC) -o $(BUILD)/fuzz_rules tests/fuzz_rules.c rules/rules.c rules/expr.c rules/pattern.c \
	    rules/builtin.c $(BASE_SRC) -I$(BUILD)/gen rules/builtin.S $(CJSON_LIBS)
	$(Q)$(call FUZZ_RUN,rules,1024,5,rules)
fuzz-folder: # a checkpoint folder: config.json, the index, the shards
	@mkdir -p $(BUILD)/fuzz-folder
	$(Q)$(FUZZ_CC) -o $(BUILD)/fuzz_folder tests/fuzz_folder.c $(BASE_SRC) $(filter inspect/%,$(LIB_SRC)) \
	    kernels/convert_ref.c kernels/dequant_ref.c kernels/convert_stub.c $(CJSON_LIBS) -lpthread -lm -ldl
	$(Q)$(call FUZZ_RUN,folder,1024,5,folder)
fuzz-lint: # lint --rules: rules, plan and simulation
	@mkdir -p $(BUILD)/fuzz-lint
	$(Q)$(FUZZ_CC) -o $(BUILD)/fuzz_lint tests/fuzz_lint.c $(filter-out tui/%,$(LIB_SRC)) kernels/convert_stub.c \
	    kernels/devmem_stub.c -I$(BUILD)/gen rules/builtin.S $(CJSON_LIBS) -lpthread -lm -ldl
	$(Q)$(call FUZZ_RUN,lint,2048,10,lint)
fuzz-quant: # a quantization_config planned and simulated over a real quantized checkpoint
	@mkdir -p $(BUILD)/fuzz-quant
	$(Q)$(FUZZ_CC) -o $(BUILD)/fuzz_quant tests/fuzz_quant.c $(filter-out tui/%,$(LIB_SRC)) kernels/convert_stub.c \
	    kernels/devmem_stub.c -I$(BUILD)/gen rules/builtin.S $(CJSON_LIBS) -lpthread -lm -ldl
	$(Q)$(call FUZZ_RUN,quant,2048,10,quant)
fuzz-explain: # explain's reader of pasted error text and finding codes
	@mkdir -p $(BUILD)/fuzz-explain
	$(Q)$(FUZZ_CC) -o $(BUILD)/fuzz_explain tests/fuzz_explain.c $(FUZZ_CLI_SRC)
	$(Q)$(call FUZZ_RUN,explain,2048,10,explain)
fuzz-cli: # the command line's arguments and .ckptdoc.json over real fixtures
	@mkdir -p $(BUILD)/fuzz-cli
	$(Q)$(FUZZ_CC) -o $(BUILD)/fuzz_cli tests/fuzz_cli.c $(FUZZ_CLI_SRC)
	$(Q)$(call FUZZ_RUN,cli,2048,10,cli)

# The binary (its rules are built in), the man page, bash and zsh completions, and the built-in
# rules files as reading matter (share/ckptdoc/rules: `ckptdoc lint --rules FILE` takes an edited copy).
install: $(BIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(PREFIX)/share/zsh/site-functions \
	    $(DESTDIR)$(PREFIX)/share/ckptdoc/rules
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/ckptdoc
	install -m 644 docs/ckptdoc.1 $(DESTDIR)$(PREFIX)/share/man/man1/ckptdoc.1
	install -m 644 docs/completions/ckptdoc.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/ckptdoc
	install -m 644 docs/completions/_ckptdoc $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_ckptdoc
	install -m 644 $(BUILTIN_JSON) $(DESTDIR)$(PREFIX)/share/ckptdoc/rules/

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/ckptdoc $(DESTDIR)$(PREFIX)/share/man/man1/ckptdoc.1 \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions/ckptdoc $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_ckptdoc
	rm -rf $(DESTDIR)$(PREFIX)/share/ckptdoc

clean:
	rm -rf build

# Debian packages the build, the tests and the bench need; installs only what is missing.
DEB_PKGS := gcc make pkg-config libcjson-dev check libncurses-dev libssl-dev libcurl4-openssl-dev libopenblas-dev \
            openmpi-bin libopenmpi-dev tmux python3
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "make deps: installing$$missing"; \
	    SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

# a demo command: its exit status said (1 is findings of error severity, which a demo shows on
# purpose); 2 or more (it could not run) stops the demo
DEMO = @./$(BIN) $(1); st=$$?; [ $$st -eq 0 ] || echo "(exit status $$st: findings of error severity)"; [ $$st -le 1 ]
demo: deps $(BIN)
	@echo "== ckptdoc inspect fixtures/real/tiny-qwen2  (a tiny Qwen2 written by transformers, sharded)"
	$(call DEMO,inspect fixtures/real/tiny-qwen2)
	@echo
	@echo "== ckptdoc inspect fixtures/folders/lfs-pointers  (a clone made without git-lfs)"
	$(call DEMO,inspect fixtures/folders/lfs-pointers)
	@echo
	@echo "== ckptdoc lint --tp 8 --pp 2 fixtures/lint/r1-tiny  (DeepSeek-R1's layout: would it load?)"
	$(call DEMO,lint --tp 8 --pp 2 fixtures/lint/r1-tiny)
	@echo
	@echo "== ckptdoc check --tp 4 --pp 2 fixtures/real/tiny-qwen2  (load every rank from the data, prove the logits)"
	$(call DEMO,check --tp 4 --pp 2 fixtures/real/tiny-qwen2)

# Records what the real vLLM does with every oracle case (fixtures/oracle, docs/oracle.md): makes
# the virtual environment with the pinned vLLM (CPU build) once, the negative variants, the
# outcome files and the cross-check, then runs the suite that holds lint and the loader to them.
# Never part of `make check`; the outcomes it writes are committed.
ORACLE_VENV ?= build/oracle-venv
oracle: $(BIN) $(BUILD)/check_oracle
	sh fixtures/oracle/setup.sh $(ORACLE_VENV)
	python3 fixtures/oracle/make_variants.py
	PYTHONHASHSEED=0 $(ORACLE_VENV)/bin/python fixtures/oracle/run.py
	PYTHONHASHSEED=0 $(ORACLE_VENV)/bin/python fixtures/oracle/run.py --crosscheck
	PYTHONHASHSEED=0 $(ORACLE_VENV)/bin/python fixtures/oracle/run_hf.py
	PYTHONHASHSEED=0 VLLM_CPU_KVCACHE_SPACE=1 $(ORACLE_VENV)/bin/python fixtures/oracle/run.py --logits
	./$(BUILD)/check_oracle

# Validates the SARIF output against the SARIF 2.1.0 schema with the jsonschema library and
# records the validated files (fixtures/sarif, docs in the script); make check holds the output to
# them. Never part of `make check`; what it writes is committed.
SARIF_VENV ?= build/sarif-venv
sarif: $(BIN)
	test -x $(SARIF_VENV)/bin/python || { python3 -m venv $(SARIF_VENV) && \
	    $(SARIF_VENV)/bin/python -m pip install --disable-pip-version-check -q jsonschema==4.26.0; }
	$(SARIF_VENV)/bin/python fixtures/sarif/validate.py $(BIN)

# Regenerates the committed fixtures that need only Python's standard library.
fixtures:
	python3 fixtures/make_malformed.py

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
