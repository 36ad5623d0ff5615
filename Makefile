# Lotse: `make demo` and `make test` install what is missing, build, and run.
SHELL := /bin/bash
SWIFT ?= swift
DATA_DIR ?= ./lotse-data
PORT ?= 8080
SIM_PORT ?= 8090
XBD_SIM_PORT ?= 8091
export LOTSE_PILOT_DATA ?= $(CURDIR)/pilot-data

# System packages: installed only when pkg-config or the command does not find them.
APT_RUNTIME := libqrencode-dev:libqrencode libcurl4-openssl-dev:libcurl libsqlite3-dev:sqlite3 zlib1g-dev:zlib
APT_TEST_TOOLS := zbar-tools:zbarimg sqlite3:sqlite3 python3:python3 openssl:openssl chromium:chromium chromium-driver:chromedriver poppler-utils:pdftotext
APT_BENCH_TOOLS := wrk:wrk nginx-light:nginx
APT_DEMO_TOOLS := python3:python3

.PHONY: deps test-deps bench-deps build demo test bench clean serve screenshots fuzz

define need_pkgconfig
$(shell for spec in $(1); do pkg=$${spec%%:*}; pc=$${spec##*:}; pkg-config --exists $$pc 2>/dev/null || echo $$pkg; done)
endef
define need_command
$(shell for spec in $(1); do pkg=$${spec%%:*}; cmd=$${spec##*:}; command -v $$cmd >/dev/null 2>&1 || echo $$pkg; done)
endef

APT_GET = DEBIAN_FRONTEND=noninteractive apt-get
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

deps:
	@command -v pkg-config >/dev/null 2>&1 || { $(SUDO) $(APT_GET) update -qq && $(SUDO) $(APT_GET) install -y -qq pkg-config; }
	@missing="$(call need_pkgconfig,$(APT_RUNTIME))"; \
	if [ -n "$$missing" ]; then echo "installing $$missing"; $(SUDO) $(APT_GET) update -qq && $(SUDO) $(APT_GET) install -y -qq $$missing; fi

test-deps: deps
	@missing="$(call need_command,$(APT_TEST_TOOLS))"; \
	if [ -n "$$missing" ]; then echo "installing $$missing"; $(SUDO) $(APT_GET) update -qq && $(SUDO) $(APT_GET) install -y -qq $$missing; fi

bench-deps: test-deps
	@missing="$(call need_command,$(APT_BENCH_TOOLS))"; \
	if [ -n "$$missing" ]; then echo "installing $$missing"; $(SUDO) $(APT_GET) update -qq && $(SUDO) $(APT_GET) install -y -qq $$missing; fi

build: deps
	$(SWIFT) build

demo: deps
	@missing="$(call need_command,$(APT_DEMO_TOOLS))"; \
	if [ -n "$$missing" ]; then echo "installing $$missing"; $(SUDO) $(APT_GET) update -qq && $(SUDO) $(APT_GET) install -y -qq $$missing; fi
	@# the build's log goes to a file: on a failure it is shown whole; otherwise only our own warnings (none), not
	@# two dependencies' notes about their unhandled resource files
	@echo "building lotse (log in .build/demo-build.log) …"
	@mkdir -p .build; $(SWIFT) build > .build/demo-build.log 2>&1 || { cat .build/demo-build.log; exit 1; }
	@grep "warning:" .build/demo-build.log | grep -v "which are unhandled; explicitly declare them" || true
	rm -rf $(DATA_DIR)
	LOTSE_DATA_DIR=$(DATA_DIR) LOTSE_PUBLIC_BASE_URL=http://127.0.0.1:$(PORT) LOTSE_DEMO=1 $$($(SWIFT) build --show-bin-path)/lotse demo --months 12 --seed 1
	LOTSE_DATA_DIR=$(DATA_DIR) LOTSE_PUBLIC_BASE_URL=http://127.0.0.1:$(PORT) LOTSE_DEMO=1 bash scripts/demo_handheld.sh $$($(SWIFT) build --show-bin-path) $(DATA_DIR)
	printf 'Demo-Verwaltung-2026\n' | LOTSE_DATA_DIR=$(DATA_DIR) $$($(SWIFT) build --show-bin-path)/lotse users add sachbearbeitung --role office --password-stdin
	printf 'Demo-Statistik-2026\n' | LOTSE_DATA_DIR=$(DATA_DIR) $$($(SWIFT) build --show-bin-path)/lotse users add auswertung --role evaluator --password-stdin
	@echo "Case data and QR codes are in $(DATA_DIR) (SVG in $(DATA_DIR)/qr, PNG in $(DATA_DIR)/qr-png)."
	@echo "PayPal is the local simulator on port $(SIM_PORT), the city's e-payment platform (XBezahldienste, OAuth2 as"
	@echo "  pmPayment) the one on port $(XBD_SIM_PORT): the whole journey works offline, with two buttons."
	@echo "Sign-ins of the demo: office console http://127.0.0.1:$(PORT)/office as sachbearbeitung / Demo-Verwaltung-2026;"
	@echo "  evaluator dashboard http://127.0.0.1:$(PORT)/stats as auswertung / Demo-Statistik-2026; machine clients:"
	@echo "  statistics API bearer token demo-evaluator, office API demo-office; metrics open (no LOTSE_METRICS_TOKEN)."
	@BIN=$$($(SWIFT) build --show-bin-path); \
	$$BIN/lotse-paypal-sim --port $(SIM_PORT) --webhook-url http://127.0.0.1:$(PORT)/webhooks/paypal --webhook-id DEMO-WEBHOOK \
	  --client-id demo-client --client-secret demo-secret & SIM=$$!; \
	$$BIN/lotse-xbd-sim --port $(XBD_SIM_PORT) --auth oauth2 --originator lotse-demo --endpoint 07312000 \
	  --client-id demo-client --client-secret demo-secret & XBD=$$!; trap "kill $$SIM $$XBD 2>/dev/null" EXIT INT TERM; \
	LOTSE_DATA_DIR=$(DATA_DIR) LOTSE_PUBLIC_BASE_URL=http://127.0.0.1:$(PORT) LOTSE_PAYPAL_API_BASE=http://127.0.0.1:$(SIM_PORT) \
	  LOTSE_PAYPAL_CLIENT_ID=demo-client LOTSE_PAYPAL_CLIENT_SECRET=demo-secret LOTSE_PAYPAL_WEBHOOK_ID=DEMO-WEBHOOK \
	  LOTSE_XBD_BASE_URL=http://127.0.0.1:$(XBD_SIM_PORT) LOTSE_XBD_AUTH=oauth2 LOTSE_XBD_ORIGINATOR_ID=lotse-demo \
	  LOTSE_XBD_ENDPOINT_ID=07312000 LOTSE_XBD_CLIENT_ID=demo-client LOTSE_XBD_CLIENT_SECRET=demo-secret \
	  LOTSE_XBD_TOKEN_URL=http://127.0.0.1:$(XBD_SIM_PORT)/oauth/token LOTSE_XBD_LABEL="Online bezahlen (Karte, giropay, PayPal)" \
	  LOTSE_EVALUATOR_TOKEN=demo-evaluator LOTSE_OFFICE_TOKEN=demo-office LOTSE_DEMO=1 $$BIN/lotse serve --port $(PORT)

# Screenshots of the case page (German, English) at 390x844 and of the start page, into docs/.
screenshots: deps
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) $(APT_GET) update -qq && $(SUDO) $(APT_GET) install -y -qq chromium fonts-dejavu-core; }
	@command -v pdftoppm >/dev/null 2>&1 || { $(SUDO) $(APT_GET) update -qq && $(SUDO) $(APT_GET) install -y -qq poppler-utils; }
	$(SWIFT) build
	bash scripts/screenshots.sh

# Tests that measure time (timeouts, throttle windows, a write lock held by another process for a while) run on
# their own after the rest, one at a time: on 2 cores the parallel run's load would decide them, not the code.
# (One regex without spaces: a backslash-continued line would put a space into it.)
TIMED_TESTS := StallTests|statisticsWaitingForTheWriteLock|idleAndHalfSentRequestsAreClosed|bearerGuessesAreThrottled
TIMED_TESTS := $(TIMED_TESTS)|pendingCaptureWaitsForTheWebhook
TIMED_TESTS := $(TIMED_TESTS)|cancelLeavesTheCaseUnchangedAndSecondPressReusesTheOrder|aMissCostsWhatAHitCosts
TIMED_TESTS := $(TIMED_TESTS)|timeoutsAreTransientErrors|xmlLimitsThroughTheBinary|hugeAttributeAndReferenceCountsAreRefusedFast
TIMED_TESTS := $(TIMED_TESTS)|killsTamperedWebhooksAndMixedChannels|aReconcileKilledMidFileLeavesNothingHalfBooked
# heavy ones (a browser, 108 payment journeys, a large import) run alone too: in the parallel phase they slow the others
TIMED_TESTS := $(TIMED_TESTS)|aClerksDayInABrowser|aCouncilReadsTheDashboardAtTheDeskOnAPhoneAndOnPaper|aMotoristOnAPhoneSeesWhatToPayAndPays|twoHundredJourneysWithFaults|journeysWithFaultsBookEveryPaymentExactlyOnce|aLargeImportShowsItsProgress

# The product's targets import only what they declare (LotseStorage alone imports GRDB).
test: test-deps
	bash scripts/lint.sh
	$(SWIFT) build --explicit-target-dependency-import-check error
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --skip '$(TIMED_TESTS)'
	$(SWIFT) test --skip-build --no-parallel --filter '$(TIMED_TESTS)'

# The release build has its own scratch path, so it does not wait for (or lock) a debug build in .build.
bench: bench-deps
	$(SWIFT) build -c release --scratch-path .build-release
	bash Benchmarks/run.sh

# Each fuzz target under libFuzzer for FUZZ_SECONDS (default 60); see scripts/fuzz.sh.
fuzz: deps
	bash scripts/fuzz.sh

clean:
	rm -rf .build .build-fuzz $(DATA_DIR)
