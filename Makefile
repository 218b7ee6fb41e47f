# Makefile for heliosdb, built with PGXS.
#
# The install script sql/heliosdb--$(EXTVERSION).sql is assembled from the
# per-module parts in sql/install/, in file-name order, so that each module
# keeps its SQL declarations next to the others of its kind.

EXTENSION = heliosdb
EXTVERSION = $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" heliosdb.control)

MODULE_big = heliosdb
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c src/*/*.c)))
DATA_built = sql/heliosdb--$(EXTVERSION).sql
DATA = $(filter-out $(DATA_built),$(wildcard sql/heliosdb--*--*.sql))

PG_CPPFLAGS = -I$(srcdir)/src
PG_CFLAGS = -Wall -Werror
SHLIB_LINK = -lcrypto

# pg_regress: inputs in test/sql, expected output in expected/.
REGRESS = $(patsubst test/sql/%.sql,%,$(sort $(wildcard test/sql/*.sql)))
REGRESS_OPTS = --inputdir=test --outputdir=. --load-extension=heliosdb

# Isolation specs in test/isolation/specs, expected in test/isolation/expected.
ISOLATION = $(patsubst test/isolation/specs/%.spec,%,$(sort $(wildcard test/isolation/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test/isolation --outputdir=output_iso --load-extension=heliosdb

# TAP tests (PostgreSQL::Test::Cluster) in test/t.
TAP_TESTS = 1
PROVE_TESTS = $(sort $(wildcard test/t/*.pl))

EXTRA_CLEAN = output_iso tmp_check $(OBJS:.o=.o.d)

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

sql/heliosdb--$(EXTVERSION).sql: $(sort $(wildcard sql/install/*.sql))
	cat $^ > $@

# Header dependencies, which PGXS does not track: each object's are
# written to a .o.d file next to it.
%.o: %.c
	$(COMPILE.c) -MMD -MP -MF $@.d -o $@ $<

-include $(OBJS:.o=.o.d)
