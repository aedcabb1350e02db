package dev.shadowcopy.writer.database;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.shadowcopy.service.json.Json;
import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import dev.shadowcopy.writer.VolumeLocator;
import dev.shadowcopy.writer.Writer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code STATE/writers.json}: the database writers the daemon runs. Read at start.
 *
 * <pre>{@code
 * {"postgresql": [{"name": "postgresql", "host": "/var/run/postgresql", "port": 5432, "user": "postgres",
 *                  "database": "postgres", "os_user": "postgres"}],
 *  "mariadb":    [{"name": "mariadb", "socket": "/run/mysqld/mysqld.sock", "user": "root"}]}
 * }</pre>
 * Every field but {@code name} has the default shown (Debian's packages: peer authentication as the
 * {@code postgres} OS user, MariaDB's unix_socket authentication for root).
 */
public record DatabaseWriterConfig(List<Postgres> postgresql, List<MariaDb> mariadb) {
    public static final String FILE = "writers.json";

    public DatabaseWriterConfig {
        postgresql = postgresql == null ? List.of() : List.copyOf(postgresql);
        mariadb = mariadb == null ? List.of() : List.copyOf(mariadb);
    }

    /** How to reach one PostgreSQL cluster (through {@code psql}). {@code host} may be a socket directory. */
    public record Postgres(String name, String host, Integer portOrNull, String user, String database,
                           String osUser, String psql) {
        public Postgres(@JsonProperty("name") String name, @JsonProperty("host") String host,
                        @JsonProperty("port") Integer portOrNull, @JsonProperty("user") String user,
                        @JsonProperty("database") String database, @JsonProperty("os_user") String osUser,
                        @JsonProperty("psql") String psql) {
            this.name = name;
            this.host = host == null ? "/var/run/postgresql" : host;
            this.portOrNull = portOrNull;
            this.user = user == null ? "postgres" : user;
            this.database = database == null ? "postgres" : database;
            this.osUser = osUser == null ? "postgres" : osUser;
            this.psql = psql == null ? "psql" : psql;
        }

        public int port() {
            return portOrNull == null ? 5432 : portOrNull;
        }
    }

    /** How to reach one MariaDB/MySQL server (through the {@code mariadb} client). */
    public record MariaDb(String name, String socket, String host, Integer portOrNull, String user,
                          String defaultsFile, String client) {
        public MariaDb(@JsonProperty("name") String name, @JsonProperty("socket") String socket,
                       @JsonProperty("host") String host, @JsonProperty("port") Integer portOrNull,
                       @JsonProperty("user") String user, @JsonProperty("defaults_file") String defaultsFile,
                       @JsonProperty("client") String client) {
            this.name = name;
            this.socket = socket == null && host == null ? "/run/mysqld/mysqld.sock" : socket;
            this.host = host;
            this.portOrNull = portOrNull;
            this.user = user == null ? "root" : user;
            this.defaultsFile = defaultsFile;
            this.client = client == null ? "mariadb" : client;
        }

        public int port() {
            return portOrNull == null ? 3306 : portOrNull;
        }
    }

    /** Reads {@code STATE/writers.json}; none configured when it is missing. */
    public static DatabaseWriterConfig load(Path stateDir) throws IOException {
        Path f = stateDir.resolve(FILE);
        if (!Files.exists(f)) {
            return new DatabaseWriterConfig(List.of(), List.of());
        }
        DatabaseWriterConfig c;
        try {
            c = Json.MAPPER.readValue(Files.readAllBytes(f), DatabaseWriterConfig.class);
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, f + " does not parse: " + e.getOriginalMessage());
        }
        for (Postgres p : c.postgresql()) {
            requireName(f, p.name());
        }
        for (MariaDb m : c.mariadb()) {
            requireName(f, m.name());
        }
        return c;
    }

    private static void requireName(Path f, String name) throws ServiceException {
        if (name == null || name.isBlank()) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, f + ": every writer needs a \"name\"");
        }
    }

    public List<Writer> writers(VolumeLocator locator) {
        List<Writer> out = new ArrayList<>();
        postgresql.forEach(p -> out.add(new PostgresWriter(p, locator)));
        mariadb.forEach(m -> out.add(new MariaDbWriter(m, locator)));
        return out;
    }
}
