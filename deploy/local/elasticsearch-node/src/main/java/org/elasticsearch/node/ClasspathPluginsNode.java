package org.elasticsearch.node;

import org.elasticsearch.env.Environment;
import org.elasticsearch.plugins.MockPluginsService;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.plugins.PluginsLoader;
import org.elasticsearch.plugins.PluginsService;

import java.util.Collection;

/**
 * A {@link Node} whose plugins are classes on the classpath rather than bundles under
 * {@code modules/} and {@code plugins/}, which we cannot have: the module bundles ship only in
 * the Elasticsearch tarball, not on Maven Central.
 *
 * <p>It lives in this package because the hook that picks the plugin service
 * ({@code NodeServiceProvider.newPluginService}) and {@code NodeConstruction} are package-private.
 * It is the same hook {@code MockNode} uses, but without MockNode's public constructors, which
 * initialise {@code ESTestCase} and with it test-only logging and system properties.
 */
public final class ClasspathPluginsNode extends Node {

    /**
     * @param environment the prepared node environment (settings and paths)
     * @param plugins     plugin classes to instantiate, as if they were installed modules
     */
    public ClasspathPluginsNode(Environment environment, Collection<Class<? extends Plugin>> plugins) {
        super(NodeConstruction.prepareConstruction(environment, null, new NodeServiceProvider() {
            @Override
            PluginsService newPluginService(Environment env, PluginsLoader unused) {
                return new MockPluginsService(env.settings(), env, plugins);
            }
        }, true));
    }
}
