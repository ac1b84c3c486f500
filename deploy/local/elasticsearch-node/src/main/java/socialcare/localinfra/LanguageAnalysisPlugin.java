package socialcare.localinfra;

import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.analysis.CharArraySet;
import org.apache.lucene.analysis.de.GermanAnalyzer;
import org.apache.lucene.analysis.en.EnglishAnalyzer;
import org.apache.lucene.analysis.fr.FrenchAnalyzer;
import org.apache.lucene.analysis.miscellaneous.ASCIIFoldingFilter;
import org.apache.lucene.analysis.nl.DutchAnalyzer;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.index.analysis.AbstractIndexAnalyzerProvider;
import org.elasticsearch.index.analysis.Analysis;
import org.elasticsearch.index.analysis.AnalyzerProvider;
import org.elasticsearch.index.analysis.PreConfiguredTokenFilter;
import org.elasticsearch.indices.analysis.AnalysisModule.AnalysisProvider;
import org.elasticsearch.plugins.AnalysisPlugin;
import org.elasticsearch.plugins.Plugin;

import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;

/**
 * Registers the language analyzers our indices use ({@code dutch}, {@code english}, ...) and
 * the {@code asciifolding} token filter (so "cafe" finds "café").
 *
 * <p>In a real Elasticsearch they come from the {@code analysis-common} module, which is not
 * published to Maven Central for 8.x. The analyzers themselves are plain Lucene classes that the
 * server jar already depends on, so this plugin wires them up the way {@code analysis-common}
 * does, honouring the {@code stopwords}, {@code stopwords_path} and {@code stem_exclusion}
 * parameters of a custom analyzer definition.
 */
public final class LanguageAnalysisPlugin extends Plugin implements AnalysisPlugin {

    @Override
    public Map<String, AnalysisProvider<AnalyzerProvider<? extends Analyzer>>> getAnalyzers() {
        return Map.of(
            "dutch", language(DutchAnalyzer.getDefaultStopSet(), DutchAnalyzer::new),
            "english", language(EnglishAnalyzer.getDefaultStopSet(), EnglishAnalyzer::new),
            "french", language(FrenchAnalyzer.getDefaultStopSet(), FrenchAnalyzer::new),
            "german", language(GermanAnalyzer.getDefaultStopSet(), GermanAnalyzer::new)
        );
    }

    @Override
    public List<PreConfiguredTokenFilter> getPreConfiguredTokenFilters() {
        return List.of(
            PreConfiguredTokenFilter.singleton("asciifolding", true, ASCIIFoldingFilter::new)
        );
    }

    private static AnalysisProvider<AnalyzerProvider<? extends Analyzer>> language(
        CharArraySet defaultStopWords,
        BiFunction<CharArraySet, CharArraySet, Analyzer> factory
    ) {
        return (indexSettings, environment, name, settings) -> new FixedAnalyzerProvider(
            name,
            settings,
            factory.apply(
                Analysis.parseStopWords(environment, settings, defaultStopWords),
                Analysis.parseStemExclusion(settings, CharArraySet.EMPTY_SET)
            )
        );
    }

    /** Hands out one analyzer instance built from the index's analyzer settings. */
    private static final class FixedAnalyzerProvider extends AbstractIndexAnalyzerProvider<Analyzer> {
        private final Analyzer analyzer;

        FixedAnalyzerProvider(String name, Settings settings, Analyzer analyzer) {
            super(name, settings);
            this.analyzer = analyzer;
        }

        @Override
        public Analyzer get() {
            return analyzer;
        }
    }
}
