package dev.shadowcopy.service.json;

import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.KeyDeserializer;
import com.fasterxml.jackson.databind.deser.std.FromStringDeserializer;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.databind.ser.std.ToStringSerializer;
import dev.shadowcopy.shadow.ShadowCopyId;
import java.nio.charset.StandardCharsets;
import java.time.Instant;

/**
 * The one JSON mapper of the service and its client: snake_case, unknown fields ignored, and the typed values of
 * the catalog written as the text they always were — a shadow copy id as its UUID, an {@link Instant} as ISO-8601
 * ({@link Instant#toString()}, read back with {@link Instant#parse}).
 */
public final class Json {
    public static final ObjectMapper MAPPER = new ObjectMapper()
            .disable(SerializationFeature.FAIL_ON_EMPTY_BEANS)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .setPropertyNamingStrategy(com.fasterxml.jackson.databind.PropertyNamingStrategies.SNAKE_CASE)
            .registerModule(values());

    /** Text forms of the value types the service's records hold. */
    private static SimpleModule values() {
        SimpleModule m = new SimpleModule("shadowcopy-values");
        m.addSerializer(ShadowCopyId.class, new ToStringSerializer(ShadowCopyId.class));
        m.addDeserializer(ShadowCopyId.class, new FromStringDeserializer<>(ShadowCopyId.class) {
            @Override
            protected ShadowCopyId _deserialize(String value, DeserializationContext ctxt) {
                return ShadowCopyId.parse(value);
            }
        });
        m.addKeyDeserializer(ShadowCopyId.class, new KeyDeserializer() {
            @Override
            public Object deserializeKey(String key, DeserializationContext ctxt) {
                return ShadowCopyId.parse(key);
            }
        });
        m.addSerializer(Instant.class, new ToStringSerializer(Instant.class));
        m.addDeserializer(Instant.class, new FromStringDeserializer<>(Instant.class) {
            @Override
            protected Instant _deserialize(String value, DeserializationContext ctxt) {
                return Instant.parse(value);
            }
        });
        return m;
    }

    private Json() {}

    public static ObjectNode object() {
        return MAPPER.createObjectNode();
    }

    public static byte[] bytes(Object value) {
        try {
            return MAPPER.writeValueAsBytes(value);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise " + value.getClass().getSimpleName(), e);
        }
    }

    public static String text(Object value) {
        return new String(bytes(value), StandardCharsets.UTF_8);
    }

    /** Parses a request body; an empty body is an empty object. Malformed JSON is an INVALID_ARGUMENT. */
    public static JsonNode parse(byte[] body) throws ServiceException {
        if (body == null || body.length == 0) {
            return object();
        }
        try {
            JsonNode n = MAPPER.readTree(body);
            if (n == null || n.isMissingNode()) {
                return object();
            }
            return n;
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, "request body is not valid JSON: "
                    + e.getOriginalMessage());
        } catch (java.io.IOException e) {
            throw new ServiceException(VssError.INVALID_ARGUMENT, "request body is not valid JSON: " + e.getMessage());
        }
    }
}
