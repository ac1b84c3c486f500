package socialcare.localinfra;

import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.node.ClasspathPluginsNode;
import org.elasticsearch.node.InternalSettingsPreparer;
import org.elasticsearch.node.Node;
import org.elasticsearch.transport.netty4.Netty4Plugin;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Runs a single-node, loopback-only Elasticsearch 8 from Maven Central jars, for local
 * development and smoke tests. Never use it for anything else: it skips the production
 * bootstrap (bootstrap checks, seccomp, the refusal to run as root, entitlements), which is
 * exactly what lets it run embedded.
 *
 * <p>Usage: {@code LocalElasticsearch -Epath.home=DIR -Ehttp.port=9200 ...}; each {@code -E}
 * overrides one of {@link #DEV_DEFAULTS}, as with the real {@code elasticsearch} launcher.
 * {@code path.home} is required. Stops cleanly on SIGTERM.
 */
public final class LocalElasticsearch {

    /** Settings that keep the node a self-contained, loopback-only development node. */
    private static final Settings DEV_DEFAULTS = Settings.builder()
        .put("cluster.name", "socialcare-local")
        .put("node.name", "local")
        .put("discovery.type", "single-node")
        .put("network.host", "127.0.0.1")
        .put("http.port", 9200)
        .put("transport.port", 9300)
        .put("action.destructive_requires_name", false)
        // A developer's nearly full disk must not make the node refuse to allocate shards.
        .put("cluster.routing.allocation.disk.threshold_enabled", false)
        .build();

    private LocalElasticsearch() {}

    public static void main(String[] args) throws Exception {
        LogConfigurator.registerErrorListener();
        Settings settings = Settings.builder().put(DEV_DEFAULTS).put(parseOverrides(args)).build();
        Environment environment = InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), null, () -> "local");
        installLogConfig(environment.configDir());
        LogConfigurator.setNodeName(Node.NODE_NAME_SETTING.get(environment.settings()));
        LogConfigurator.configure(environment, true);

        Node node = new ClasspathPluginsNode(
            environment,
            List.of(Netty4Plugin.class, LanguageAnalysisPlugin.class, RootEndpointPlugin.class)
        );
        Runtime.getRuntime().addShutdownHook(new Thread(() -> close(node), "local-elasticsearch-shutdown"));
        node.start();
        // The node's threads are daemons; park the main thread so the JVM lives until SIGTERM.
        new CountDownLatch(1).await();
    }

    private static Settings parseOverrides(String[] args) {
        Settings.Builder overrides = Settings.builder();
        for (String arg : args) {
            int eq = arg.indexOf('=');
            if (arg.startsWith("-E") == false || eq < 0) {
                throw new IllegalArgumentException("expected -Ekey=value, got [" + arg + "]");
            }
            overrides.put(arg.substring(2, eq), arg.substring(eq + 1));
        }
        return overrides.build();
    }

    /** Elasticsearch only reads logging config from files in its config directory. */
    private static void installLogConfig(Path configDir) throws IOException {
        Files.createDirectories(configDir);
        try (InputStream config = LocalElasticsearch.class.getResourceAsStream("log4j2.properties")) {
            Files.copy(config, configDir.resolve("log4j2.properties"), StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private static void close(Node node) {
        try {
            node.close();
            node.awaitClose(20, TimeUnit.SECONDS);
        } catch (IOException | InterruptedException e) {
            e.printStackTrace();
        }
    }
}
