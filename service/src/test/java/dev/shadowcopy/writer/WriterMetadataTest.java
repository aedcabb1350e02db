package dev.shadowcopy.writer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import java.util.List;
import org.junit.jupiter.api.Test;

class WriterMetadataTest {
    static final String GOOD = """
            <writer-metadata name="PostgreSQL" usage="user-data" restore-method="stop-restore-start">
              <component name="main" logical-path="pg/15" type="database" selectable="true">
                <file path="/var/lib/postgresql/15/main" filespec="*" recursive="true"/>
              </component>
              <exclude path="/var/lib/postgresql/15/main" filespec="postmaster.pid"/>
            </writer-metadata>
            """;

    @Test
    void parsesAndRoundTrips() throws ServiceException {
        WriterMetadata m = WriterMetadata.parse(GOOD);
        assertEquals("PostgreSQL", m.name());
        assertEquals("stop-restore-start", m.restoreMethod());
        assertEquals(1, m.components().size());
        assertEquals(new WriterMetadata.FileSpec("/var/lib/postgresql/15/main", "*", true),
                m.components().getFirst().files().getFirst());
        assertEquals(List.of(new WriterMetadata.FileSpec("/var/lib/postgresql/15/main", "postmaster.pid", false)),
                m.excludes());
        assertEquals(m, WriterMetadata.parse(m.toXml()));
    }

    static ServiceException bad(String xml) {
        ServiceException e = assertThrows(ServiceException.class, () -> WriterMetadata.parse(xml));
        assertEquals(VssError.INVALID_XML_DOCUMENT, e.error());
        return e;
    }

    @Test
    void refusesExternalEntitiesAndDoctypes() {
        ServiceException e = bad("<!DOCTYPE a [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><writer-metadata name=\"&x;\"/>");
        assertFalse(e.getMessage().contains("root:"), e.getMessage());
        bad("<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;\">]><writer-metadata name=\"&lol2;\"/>");
    }

    @Test
    void refusesWhatDoesNotFollowTheShape() {
        assertTrue(bad("<writer-metadata name='x'><component name='c'>").getMessage().contains("line"));
        bad("<other name='x'/>");
        bad("<writer-metadata/>");
        bad("<writer-metadata name='x' usage='weird'/>");
        bad("<writer-metadata name='x'><component name='c'><file path='relative'/></component></writer-metadata>");
        bad("<writer-metadata name='x'><component name='c'><dir path='/a'/></component></writer-metadata>");
        bad("<writer-metadata name='x'>text</writer-metadata>");
        bad("<writer-metadata name='x'><exclude path='/a' recursive='maybe'/></writer-metadata>");
        bad("<writer-metadata name='x'>" + "<exclude path='/a'/>".repeat(60000) + "</writer-metadata>");
        bad("");
    }
}
